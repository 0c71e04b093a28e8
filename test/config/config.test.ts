// Configuration: precedence, validation that reports every error with its path, and the
// generated README reference staying in step with the schema.

import t from 'tap';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, configLeaves } from '../../src/config/load.ts';
import { withConfigReference } from '../../src/config/docs.ts';
import { ValidationError } from '../../src/core/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'glidepath-config-'));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

function errorsOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return [...err.errors];
    throw err;
  }
  throw new Error('expected a ValidationError');
}

t.test('defaults are complete and durations resolve to milliseconds', async (t) => {
  const c = loadConfig();
  t.equal(c.listen, '0.0.0.0:8080');
  t.equal(c.server.headersTimeout, 10_000);
  t.equal(c.upstream.idleTimeout, 2_000);
  t.equal(c.server.maxHeaderCount, 100);
  t.same(c.retry.statuses, [502, 503, 504]);
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.server), 'the result is frozen');
});

t.test('precedence: defaults < file < environment < flags', async (t) => {
  const path = file(
    'p.yaml',
    'listen: 127.0.0.1:1000\nserver:\n  maxHeaderCount: 50\n  headersTimeout: 3s\nupstream:\n  connectTimeout: 1s\n',
  );
  const c = loadConfig({
    file: path,
    env: { GLIDEPATH_SERVER_MAX_HEADER_COUNT: '60', GLIDEPATH_UPSTREAM_CONNECT_TIMEOUT: '2s', UNRELATED: 'x' },
    flags: { 'upstream.connectTimeout': '4s' },
  });
  t.equal(c.listen, '127.0.0.1:1000', 'file beats default');
  t.equal(c.server.headersTimeout, 3_000, 'file value kept when nothing overrides it');
  t.equal(c.server.maxHeaderCount, 60, 'environment beats file');
  t.equal(c.upstream.connectTimeout, 4_000, 'flag beats environment');
  t.equal(c.server.keepAliveTimeout, 75_000, 'default where nothing is set');
});

t.test('environment variables cover every setting, with typed parsing', async (t) => {
  const leaves = configLeaves();
  t.ok(leaves.length > 30, 'every leaf has an environment name');
  t.equal(new Set(leaves.map((l) => l.env)).size, leaves.length, 'environment names are unique');
  const c = loadConfig({
    env: {
      GLIDEPATH_SERVER_TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1',
      GLIDEPATH_RETRY_STATUSES: '503',
      GLIDEPATH_SERVER_HEADERS_TIMEOUT: '1500',
    },
  });
  t.same(c.server.trustedProxies, ['10.0.0.0/8', '127.0.0.1']);
  t.same(c.retry.statuses, [503]);
  t.equal(c.server.headersTimeout, 1_500, 'a bare number is milliseconds');
});

t.test('every error is reported at once, with its path and source', async (t) => {
  const path = file(
    'bad.yaml',
    'listen: nowhere\nserver:\n  maxHeaderCount: 0\n  trustedProxies: [10.0.0.0/40]\n  headerTimeout: 5s\nlog:\n  level: chatty\n',
  );
  const errors = errorsOf(() => loadConfig({ file: path, env: { GLIDEPATH_UPSTREAM_IDLE_TIMEOUT: 'soon' } }));
  const byPath = Object.fromEntries(errors.map((e) => [e.path, e.message]));
  t.match(byPath.listen, /host:port/);
  t.match(byPath['server.maxHeaderCount'], /greater or equal to 1/);
  t.match(byPath['server.headerTimeout'], /unknown field/);
  t.match(byPath['log.level'], /one of fatal, error, warn, info, debug, trace, silent; got "chatty"/);
  t.match(byPath['upstream.idleTimeout'], /duration.*got "soon".*GLIDEPATH_UPSTREAM_IDLE_TIMEOUT/);
  t.match(byPath['server.trustedProxies[0]'], /IP address or CIDR/);
  t.ok(errors.length >= 6, `all problems listed (${errors.length})`);
});

t.test('semantic checks: admin never on the proxy port; headers timeout within request timeout', async (t) => {
  const errors = errorsOf(() =>
    loadConfig({
      flags: { listen: '0.0.0.0:8080', 'admin.listen': '127.0.0.1:8080', 'server.headersTimeout': '20s', 'server.requestTimeout': '10s' },
    }),
  );
  t.ok(errors.some((e) => e.path === 'admin.listen' && /differ from listen/.test(e.message)));
  t.ok(errors.some((e) => e.path === 'server.headersTimeout' && /must not exceed/.test(e.message)));
});

t.test('unreadable and malformed files are reported with where', async (t) => {
  t.match(errorsOf(() => loadConfig({ file: join(dir, 'missing.yaml') }))[0]?.message, /cannot read .*missing\.yaml: ENOENT/);
  const broken = file('broken.yaml', 'listen: [\nserver: {\n');
  t.match(errorsOf(() => loadConfig({ file: broken }))[0]?.message, /not valid YAML at line \d+, column \d+/);
  const list = file('list.yaml', '- a\n- b\n');
  t.match(errorsOf(() => loadConfig({ file: list }))[0]?.message, /mapping at the top level/);
});

t.test('the README configuration reference is generated from the schema and up to date', async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  t.equal(withConfigReference(readme), readme, 'run `npm run docs` after changing src/config/schema.ts');
  for (const leaf of configLeaves()) t.ok(readme.includes(`\`${leaf.env}\``), `${leaf.env} documented`);
});

t.test('examples/glidepath.yaml is valid and spells out the defaults', async (t) => {
  const c = loadConfig({ file: new URL('../../examples/glidepath.yaml', import.meta.url).pathname });
  const d = loadConfig({ flags: { 'endpoints.file': 'examples/endpoints.yaml' } });
  t.same(c, d, 'the example equals the defaults (plus its endpoints file)');
});
