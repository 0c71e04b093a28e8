// `glidepath status` as an operator runs it, and what every command says when the admin API is
// unreachable, silent, or not the admin listener at all; usage errors.

import t from 'tap';
import net from 'node:net';
import { cli, glidepath, startDemoPods, TOKEN } from './admin-harness.ts';
import { unusedPort } from '../../testkit/wait.ts';

const pods = await startDemoPods(t);

t.test('status: the table and --json from a running glidepath', async (t) => {
  const gp = await glidepath(t, pods, { token: TOKEN });
  for (let i = 0; i < 40; i++) await (await fetch(`${gp.proxyUrl}/`)).text();
  for (let i = 0; i < 2; i++) await (await fetch(`${gp.proxyUrl}/status/503`)).text();

  const table = await cli(['status', '--admin', gp.adminUrl]);
  t.equal(table.code, 0, table.err);
  t.equal(table.err, '');
  t.match(table.out, /^glidepath \d+\.\d+\.\d+, up \d+s, 0 in flight\n/);
  t.match(table.out, /^discovery: endpoints file .*endpoints-\d+\.yaml \(1 update, last \d{4}-\d\d-\d\dT[^)]+\): ok$/m);
  t.match(table.out, /^VERSION +REVISION +WEIGHT +EFFECTIVE +READY +REQUESTS +FAILURES +FAILED$/m);
  const rows = [...table.out.matchAll(/^(v[12]) +([12]) +(\d+)% +(\d+)% +1\/1 +(\d+) +(\d+) +(\S+)$/gm)];
  t.same(rows.map((r) => [r[1], r[2], r[3], r[4]]).sort(), [
    ['v1', '1', '90', '90'],
    ['v2', '2', '10', '10'],
  ]);
  t.equal(
    rows.reduce((sum, r) => sum + Number(r[5]), 0),
    42,
    'every request counted once, on the version that served it',
  );
  t.equal(
    rows.reduce((sum, r) => sum + Number(r[6]), 0),
    2,
    'the two 503s are the failures',
  );
  t.match(table.out, /^rollout: none reported \(no rollout controller: glidepath runs without --deployment\)$/m);
  t.notMatch(table.out, /\x1b\[/, 'no colour into a pipe');

  const json = await cli(['status', '--json', '--admin', gp.adminUrl]);
  t.equal(json.code, 0, json.err);
  const doc = JSON.parse(json.out) as { versions: unknown[]; discovery: unknown };
  const direct = (await (await fetch(`${gp.adminUrl}/status`)).json()) as typeof doc;
  t.same(doc.versions, direct.versions, '--json is the /status document as served');
  t.same(doc.discovery, direct.discovery);

  const fromEnv = await cli(['status'], { GLIDEPATH_ADMIN_URL: `127.0.0.1:${gp.app.adminAddress.port}` });
  t.equal(fromEnv.code, 0, 'GLIDEPATH_ADMIN_URL sets the address, HOST:PORT as serve --admin takes it');
  t.match(fromEnv.out, /^v1 /m);
});

t.test('unreachable, silent, or not the admin listener', async (t) => {
  const dead = await unusedPort();
  const refused = await cli(['status', '--admin', `http://127.0.0.1:${dead}`]);
  t.equal(refused.code, 1);
  t.equal(
    refused.err,
    `glidepath status: cannot reach the glidepath admin API at http://127.0.0.1:${dead}: is glidepath running, and is admin.listen that address? (connection refused)\n`,
  );
  const refusedVerb = await cli(['abort', '--admin', `127.0.0.1:${dead}`], { GLIDEPATH_ADMIN_TOKEN: TOKEN });
  t.equal(refusedVerb.code, 1);
  t.match(refusedVerb.err, /cannot reach the glidepath admin API/);

  // Accepts connections and never answers.
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => void sockets.add(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const port = (silent.address() as net.AddressInfo).port;
  const slow = await cli(['pause', '--admin', `127.0.0.1:${port}`, '--timeout', '300ms'], { GLIDEPATH_ADMIN_TOKEN: TOKEN });
  t.equal(slow.code, 1);
  t.equal(
    slow.err,
    `glidepath pause: the glidepath admin API at http://127.0.0.1:${port} did not answer within 300 ms (--timeout): is it overloaded, or is that address something else?\n`,
  );
  // Without the timeout the run would hang until cli() kills it at 20 s (code null, no message).
  t.ok(slow.ms < 15_000, `bounded by --timeout (${slow.ms} ms including node start-up on a loaded machine)`);

  // The proxy port hands the request to the application, which answers 200 to anything.
  const gp = await glidepath(t, pods, { token: TOKEN });
  const proxied = await cli(['abort', '--admin', gp.proxyUrl], { GLIDEPATH_ADMIN_TOKEN: TOKEN });
  t.equal(proxied.code, 1, 'a 200 from the application is not an accepted abort');
  t.match(
    proxied.err,
    /answered 200 OK without the glidepath admin header: is --admin the glidepath admin listener \(admin\.listen\), not the proxy port\?/,
  );
  t.match((await cli(['status', '--admin', gp.proxyUrl])).err, /not the proxy port/);
});

t.test('usage errors exit 2', async (t) => {
  const badUrl = await cli(['status', '--admin', 'ftp://127.0.0.1:1']);
  t.equal(badUrl.code, 2);
  t.match(badUrl.err, /--admin: expected an http:\/\/ or https:\/\/ URL; got "ftp:\/\/127\.0\.0\.1:1"\nUsage: glidepath status/);
  const badTimeout = await cli(['status', '--timeout', 'soon']);
  t.equal(badTimeout.code, 2);
  t.match(badTimeout.err, /--timeout: expected a duration such as 5s or 500ms; got "soon"/);
  const positional = await cli(['abort', 'now'], { GLIDEPATH_ADMIN_TOKEN: TOKEN });
  t.equal(positional.code, 2);
  t.match(positional.err, /abort takes no positional arguments \(got "now"\)/);
  const noReason = await cli(['promote', '--reason', 'x'], { GLIDEPATH_ADMIN_TOKEN: TOKEN });
  t.equal(noReason.code, 2, 'promote takes no --reason');
  t.match(noReason.err, /Unknown option '--reason'/);
});
