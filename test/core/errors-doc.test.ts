// Keeps docs/errors.md in step with the error-code table in src/core/errors.ts: the same codes,
// statuses and summaries, and no code that nothing in src/ uses.

import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, type ErrorCodeInfo } from '../../src/core/errors.ts';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const rows = [...doc.matchAll(/^\| `(GP_[A-Z_]+)` \| (\d{3}|none) \| (.*) \|$/gm)].map((m) => ({
  code: m[1] as string,
  status: m[2] === 'none' ? 0 : Number(m[2]),
  when: m[3] as string,
}));

/**
 * The rule: the "when" cell opens with the code's summary, as its first clause. Backticks are
 * markup and ignored, and the first letter may be capitalized; the summary must be followed by
 * the end of the cell or by punctuation, so that a cell cannot merely start with a prefix of it.
 */
function opensWithSummary(when: string, summary: string): boolean {
  const text = when.replaceAll('`', '');
  if (text.slice(1, summary.length) !== summary.slice(1) || text[0]?.toLowerCase() !== summary[0]?.toLowerCase()) return false;
  const next = text[summary.length];
  return next === undefined || '.,;:'.includes(next);
}

t.test('the summary rule', async (t) => {
  t.ok(opensWithSummary('No usable `endpoint`. More.', 'no usable endpoint'));
  t.ok(opensWithSummary('Admin: no such route.', 'admin: no such route'));
  t.notOk(opensWithSummary('No usable endpoints at all.', 'no usable endpoint'), 'a longer word is not the summary');
  t.notOk(opensWithSummary('Something else. no usable endpoint.', 'no usable endpoint'), 'the summary comes first');
});

t.test('every code in the table is documented with its status and summary', async (t) => {
  for (const [code, info] of Object.entries(ERROR_CODES) as [string, ErrorCodeInfo][]) {
    const row = rows.find((r) => r.code === code);
    t.ok(row, `${code} is documented in docs/errors.md`);
    if (!row) continue;
    t.equal(row.status, info.status, `${code} status in docs matches the code`);
    const same = opensWithSummary(row.when, info.summary);
    const detail = same ? '' : `\n  code: ${info.summary}\n  docs: ${row.when.slice(0, 200)}`;
    t.ok(same, `${code}: the docs row opens with the code's summary${detail}`);
  }
});

t.test('the docs list no unknown code and none twice', async (t) => {
  t.ok(rows.length >= Object.keys(ERROR_CODES).length, `${rows.length} rows parsed`);
  for (const row of rows) t.ok(row.code in ERROR_CODES, `${row.code} exists in src/core/errors.ts`);
  t.equal(new Set(rows.map((r) => r.code)).size, rows.length, 'no duplicate rows');
});

t.test('every code is used in src/ outside the table', async (t) => {
  const src = fileURLToPath(new URL('../../src', import.meta.url));
  const table = join(src, 'core', 'errors.ts');
  const sources = (readdirSync(src, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(src, f))
    .filter((f) => f !== table)
    .map((f) => readFileSync(f, 'utf8'));
  t.ok(sources.length > 20, `${sources.length} source files read`);
  for (const code of Object.keys(ERROR_CODES)) {
    // As a string literal: a GlidepathError, a writeProxyError call or a reason → code map.
    const used = sources.some((s) => s.includes(`'${code}'`));
    t.ok(used, `${code} is used in src/ (else remove it from src/core/errors.ts and docs/errors.md)`);
  }
});
