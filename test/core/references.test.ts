// Every reference in the repository must be one a reader of the repository can follow: nothing may
// point at the design and research notes kept in the shared folder beside it, by path or by their
// section numbers. Cite the primary source (RFC section, KEP, upstream file or issue) or state the
// fact, in docs/ if it is long.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

const SHARED = 'shared';
const SECTION = '\u00a7';
/** Spelled in pieces so that this file does not match itself. */
const FORBIDDEN: readonly { readonly name: string; readonly pattern: RegExp }[] = [
  { name: `../${SHARED}`, pattern: new RegExp(`\\.\\./${SHARED}`) },
  { name: `/work/${SHARED}`, pattern: new RegExp(`/work/${SHARED}`) },
  { name: `research ${SECTION}`, pattern: new RegExp(`research\\s*${SECTION}`, 'i') },
];

/** One offending line, as `file:line: text`. */
function findReferences(files: readonly string[], read: (file: string) => Buffer): string[] {
  const found: string[] = [];
  for (const file of files) {
    if (file.split('/').includes('node_modules')) continue;
    const bytes = read(file);
    if (bytes.includes(0)) continue; // binary
    const lines = bytes.toString('utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string;
      for (const { name, pattern } of FORBIDDEN) {
        if (pattern.test(line)) found.push(`${file}:${i + 1}: ${name}: ${line.trim().slice(0, 160)}`);
      }
    }
  }
  return found;
}

function trackedFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
    maxBuffer: 64 * 1024 * 1024,
  });
  return out
    .toString('utf8')
    .split('\0')
    .filter((f) => f.length > 0);
}

t.test('the finder reports file and line, and skips binary files', async (t) => {
  const files: Record<string, Buffer> = {
    'a.ts': Buffer.from(`// fine\n// see ../${SHARED}/STYLE.md\n`),
    'b.md': Buffer.from(`as research ${SECTION}3.2 says\n`),
    'c.bin': Buffer.from([0, 1, 2, ...Buffer.from(`/work/${SHARED}`)]),
    'node_modules/x/d.js': Buffer.from(`/work/${SHARED}`),
  };
  const found = findReferences(Object.keys(files), (f) => files[f] as Buffer);
  t.equal(found.length, 2, found.join('\n'));
  t.ok(found[0]?.startsWith(`a.ts:2: ../${SHARED}: `), String(found[0]));
  t.ok(found[1]?.startsWith(`b.md:1: research ${SECTION}: `), String(found[1]));
});

t.test('no file of the repository cites notes kept outside it', async (t) => {
  const files = trackedFiles();
  t.ok(files.length > 100, `${files.length} files listed by git`);
  const found = findReferences(files, (f) => {
    try {
      return readFileSync(`${root}/${f}`);
    } catch {
      return Buffer.alloc(0); // listed but deleted in the working tree
    }
  });
  for (const line of found) t.fail(line);
  t.equal(found.length, 0, 'no reference a reader of the repository cannot follow');
});
