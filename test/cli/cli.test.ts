// The command line as a user runs it: real child processes, exit codes and messages.

import t from 'tap';
import { spawnSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const dir = mkdtempSync(join(tmpdir(), 'glidepath-cli-'));

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

t.test('--version and -v print the package version', async (t) => {
  for (const flag of ['--version', '-v']) {
    const r = run([flag]);
    t.equal(r.code, 0);
    t.equal(r.out.trim(), VERSION);
  }
});

t.test('--help lists the commands; help per command', async (t) => {
  const r = run(['--help']);
  t.equal(r.code, 0);
  for (const c of ['serve', 'check-config', 'status', 'promote', 'abort', 'pause', 'resume', 'demo-app'])
    t.match(r.out, new RegExp(`\\n  ${c} `));
  const serve = run(['help', 'serve']);
  t.equal(serve.code, 0);
  t.match(
    serve.out,
    /Usage: glidepath serve \[--config FILE\] \[--listen HOST:PORT\] \[--admin HOST:PORT\] \[--endpoints FILE\] \[--log-level LEVEL\]/,
  );
  t.match(run(['check-config', '--help']).out, /Usage: glidepath check-config FILE/);
  t.match(
    run(['help', 'abort']).out,
    /Usage: glidepath abort \[--admin URL\] \[--token-file FILE\] \[--reason TEXT\] \[--json\] \[--timeout DURATION\]\n\n.*\n.*\nSends POST \/actions\/abort/,
  );
});

t.test('usage errors exit 2 with a message', async (t) => {
  const unknown = run(['frobnicate']);
  t.equal(unknown.code, 2);
  t.match(unknown.err, /unknown command "frobnicate"/);
  const badFlag = run(['serve', '--listne', '1']);
  t.equal(badFlag.code, 2);
  t.match(badFlag.err, /Unknown option '--listne'/);
  t.equal(run(['check-config']).code, 2);
  t.equal(run([]).code, 2, 'no command: help on stdout, exit 2');
});

t.test('check-config: ok exits 0; every error with its path exits 1', async (t) => {
  const endpoints = join(dir, 'endpoints.yaml');
  writeFileSync(endpoints, 'versions: [{ name: v1, revision: 1 }]\nendpoints: [{ address: 127.0.0.1:3001, version: v1 }]\n');
  const good = join(dir, 'good.yaml');
  writeFileSync(good, `listen: 127.0.0.1:8080\nendpoints:\n  file: ${endpoints}\n`);
  const ok = run(['check-config', good]);
  t.equal(ok.code, 0, ok.err);
  t.match(ok.out, /^ok: /);

  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'listen: 8080\nupstream:\n  connectTimeout: forever\n  maxConnectionsPerEndpoint: -1\n');
  const r = run(['check-config', bad]);
  t.equal(r.code, 1);
  t.match(r.err, /GP_CONFIG_INVALID: config .*bad\.yaml: 3 errors/);
  t.match(r.err, /listen: expected "host:port"/);
  t.match(r.err, /upstream\.connectTimeout: expected a duration/);
  t.match(r.err, /upstream\.maxConnectionsPerEndpoint: /);

  const badEndpoints = join(dir, 'bad-endpoints.yaml');
  writeFileSync(
    badEndpoints,
    'versions: [{ name: v1, revision: 1, weight: 10 }, { name: v2, revision: 2, weight: 20 }]\nendpoints: [{ address: nowhere, version: v3 }]\n',
  );
  const cfg = join(dir, 'cfg-bad-endpoints.yaml');
  writeFileSync(cfg, `endpoints:\n  file: ${badEndpoints}\n`);
  const e = run(['check-config', cfg]);
  t.equal(e.code, 1);
  t.match(e.err, /GP_ENDPOINTS_INVALID/);
  t.match(e.err, /versions: weights sum to 30; they must sum to 10000/);
  t.match(e.err, /endpoints\[0\]\.address: expected "host:port"/);
  t.match(e.err, /endpoints\[0\]\.version: unknown version "v3"/);
});

t.test('serve with a bad config prints every error and does not start', async (t) => {
  const r = run(['serve', '--listen', 'localhost', '--endpoints', join(dir, 'endpoints.yaml')], { GLIDEPATH_SERVER_MAX_IN_FLIGHT: 'lots' });
  t.equal(r.code, 1);
  t.match(r.err, /listen: expected "host:port"; got "localhost" \(from --flag listen\)/);
  t.match(r.err, /server\.maxInFlight: .*got "lots" \(from GLIDEPATH_SERVER_MAX_IN_FLIGHT\)/);
  t.notMatch(r.out, /glidepath listening/);
});

t.test('serve without a discovery source says what to set', async (t) => {
  const r = run(['serve', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
  t.equal(r.code, 1);
  t.match(r.err, /no discovery source: set endpoints\.file/);
});

t.test('serve reports a port in use clearly', async (t) => {
  const endpoints = join(dir, 'endpoints.yaml');
  const first = spawn(process.execPath, [CLI, 'serve', '--endpoints', endpoints, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => void first.kill('SIGKILL'));
  const adminPort = await new Promise<number>((resolve) => {
    let out = '';
    first.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"admin":\{[^}]*"port":(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
  });
  const r = run(['serve', '--endpoints', endpoints, '--listen', `127.0.0.1:${adminPort}`, '--admin', '127.0.0.1:0']);
  t.equal(r.code, 1);
  t.match(r.err, /cannot listen: .*EADDRINUSE/);
});
