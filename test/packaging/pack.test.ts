// Follows the Docker image's install path without a Docker engine: npm pack, install the tarball
// with production dependencies only in a fresh folder, and run glidepath from there.

import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
// npm scripts put Node 24 first on PATH; keep it there for the installed bin's `#!/usr/bin/env node`.
const env = {
  ...process.env,
  PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
  npm_config_audit: 'false',
  npm_config_fund: 'false',
};

t.test('the packed tarball installs with production dependencies only and runs', { timeout: 240_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'glidepath-pack-'));
  execFileSync('npm', ['pack', '--pack-destination', work], { cwd: root, env, stdio: 'pipe' });
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  t.ok(tarball, 'npm pack wrote a tarball');
  const listing = execFileSync('tar', ['-tzf', join(work, tarball as string)], { encoding: 'utf8' });
  t.match(listing, /package\/dist\/cli\/main\.js/, 'the compiled CLI is in the package');
  t.notMatch(listing, /package\/(src|test|testkit|loadtest|bench)\//, 'sources, tests and tools stay out');

  const app = join(work, 'app');
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), '{"name":"image","private":true}\n');
  execFileSync('npm', ['install', '--omit=dev', join(work, tarball as string)], { cwd: app, env, stdio: 'pipe', timeout: 200_000 });
  t.ok(existsSync(join(app, 'node_modules/undici')), 'runtime dependencies installed');
  t.notOk(existsSync(join(app, 'node_modules/tap')), 'no devDependencies');
  t.notOk(existsSync(join(app, 'node_modules/typescript')), 'no TypeScript in the image');

  const installed = join(app, 'node_modules/glidepath');
  const run = (args: string[]) =>
    spawnSync(join(app, 'node_modules/.bin/glidepath'), args, { cwd: installed, env, encoding: 'utf8', timeout: 20_000 });
  const v = run(['--version']);
  t.equal(v.status, 0, v.stderr);
  t.equal(v.stdout.trim(), version);
  const check = run(['check-config', 'examples/glidepath.yaml']);
  t.equal(check.status, 0, `the shipped example validates from the package: ${check.stderr}`);
  t.match(check.stdout, /^ok: examples\/glidepath\.yaml/);
});
