// The static endpoints file: validation with field paths, live reload under load without losing
// a request, and a bad edit never replacing the last good endpoints.

import t from 'tap';
import { parseEndpointsFile } from '../../src/discovery/static-file.ts';
import { ValidationError } from '../../src/core/errors.ts';
import { startPod } from '../../testkit/pods.ts';
import { startProxy, type EndpointsDoc } from '../../testkit/proxy.ts';
import { runLoad, reconcile } from '../../testkit/ledger.ts';
import { sleep } from '../../testkit/wait.ts';
import type { StatusDocument } from '../../src/admin/status.ts';

function errors(text: string): string[] {
  try {
    parseEndpointsFile(text, 'test.yaml');
  } catch (err) {
    if (err instanceof ValidationError) return err.errors.map((e) => `${e.path}: ${e.message}`);
    throw err;
  }
  return [];
}

t.test('defaults follow the EndpointSlice conditions', async (t) => {
  const s = parseEndpointsFile(
    'versions: [{name: a, revision: 1}]\nendpoints:\n  - {address: "10.0.0.1:80", version: a}\n  - {address: "10.0.0.2:80", version: a, ready: false}\n  - {address: "10.0.0.3:80", version: a, terminating: true}\n  - {address: "[::1]:80", version: a}\n',
    'f',
  );
  t.same(s.weights, { a: 10000 }, 'a single version without weight takes everything');
  t.same(
    s.endpoints.map((e) => [e.host, e.ready, e.serving, e.terminating]),
    [
      ['10.0.0.1', true, true, false],
      ['10.0.0.2', false, false, false],
      ['10.0.0.3', false, true, true],
      ['::1', true, true, false],
    ],
  );
});

t.test('every problem is reported with its path', async (t) => {
  const found = errors(
    [
      'versions:',
      '  - {name: a, revision: 1, weight: 6000}',
      '  - {name: a, revision: 2, weight: 3000}',
      'endpoints:',
      '  - {address: "10.0.0.1", version: a}',
      '  - {address: "10.0.0.2:80", version: b}',
      '  - {address: "10.0.0.3:80", version: a}',
      '  - {address: "10.0.0.3:80", version: a}',
    ].join('\n'),
  );
  t.same(found.sort(), [
    'endpoints[0].address: expected "host:port", got "10.0.0.1"',
    'endpoints[1].version: unknown version "b"; declare it under versions',
    'endpoints[3].address: duplicate address 10.0.0.3:80',
    'versions: weights sum to 9000; they must sum to 10000',
    'versions[1].name: duplicate version "a"',
  ]);
  t.match(errors('versions: [{name: a, revision: -1, colour: red}]')[0], /^versions\[0\]/);
  t.match(errors('versions: [ {')[0], /not valid YAML or JSON at line \d+/);
  t.match(errors('{"versions": [{"name": "a", "revision": 1}], "endpoints": []}'), [], 'JSON is accepted');
  t.match(errors('versions: [{name: a, revision: 1}, {name: b, revision: 2}]\nendpoints: []')[0], /each needs a weight/);
});

t.test('reloading the file under load loses nothing', async (t) => {
  const pods = await Promise.all([startPod({ APP_VERSION: 'v1' }), startPod({ APP_VERSION: 'v1' }), startPod({ APP_VERSION: 'v2' })]);
  t.teardown(() => Promise.all(pods.map((p) => p.stop())));
  const [a, b, c] = pods as [(typeof pods)[0], (typeof pods)[0], (typeof pods)[0]];
  const docs: EndpointsDoc[] = [
    {
      versions: [
        { name: 'v1', revision: 1, weight: 10000 },
        { name: 'v2', revision: 2, weight: 0 },
      ],
      endpoints: [{ address: a.address, version: 'v1' }],
    },
    {
      versions: [
        { name: 'v1', revision: 1, weight: 9000 },
        { name: 'v2', revision: 2, weight: 1000 },
      ],
      endpoints: [
        { address: a.address, version: 'v1' },
        { address: b.address, version: 'v1' },
        { address: c.address, version: 'v2' },
      ],
    },
    {
      versions: [
        { name: 'v1', revision: 1, weight: 5000 },
        { name: 'v2', revision: 2, weight: 5000 },
      ],
      endpoints: [
        { address: b.address, version: 'v1' },
        { address: c.address, version: 'v2' },
      ],
    },
    {
      versions: [
        { name: 'v1', revision: 1, weight: 0 },
        { name: 'v2', revision: 2, weight: 10000 },
      ],
      endpoints: [
        { address: a.address, version: 'v1', terminating: true },
        { address: b.address, version: 'v1' },
        { address: c.address, version: 'v2' },
      ],
    },
  ];
  const proxy = await startProxy(docs[0] as EndpointsDoc);
  t.teardown(() => proxy.stop());
  let step = 0;
  const timer = setInterval(() => proxy.writeEndpoints(docs[++step % docs.length] as EndpointsDoc), 150);
  const ledger = await runLoad({ url: proxy.url, durationMs: 2500, connections: 8, postRatio: 0.3, path: '/slow/5' });
  clearInterval(timer);
  t.ok(step >= 10, `the file changed ${step} times during the load`);
  t.same(ledger.failures(), [], `no failed request (${JSON.stringify(ledger.summary())})`);
  const r = reconcile(
    ledger,
    pods.map((p) => p.ledger()),
  );
  t.same([r.okWithoutPod.length, r.statusMismatch.length, r.podWithoutClient.length], [0, 0, 0], 'client and pod ledgers agree');
  const versions = new Set(Object.keys(ledger.byVersion()));
  t.ok(versions.has('v1') && versions.has('v2'), 'both versions served as the weights moved');
});

t.test('an invalid edit is reported and the last good snapshot stays in force', async (t) => {
  const pod = await startPod();
  t.teardown(() => pod.stop());
  const good: EndpointsDoc = { versions: [{ name: 'v1', revision: 1 }], endpoints: [{ address: pod.address, version: 'v1' }] };
  const proxy = await startProxy(good);
  t.teardown(() => proxy.stop());
  const status = async (): Promise<StatusDocument> => (await (await fetch(`${proxy.adminUrl}/status`)).json()) as StatusDocument;
  proxy.writeEndpoints('versions: [{name: v1, revision: 1}]\nendpoints: [{address: "127.0.0.1:1", version: nope}]\n');
  const deadline = Date.now() + 5_000;
  while ((await status()).discovery.lastError === null && Date.now() < deadline) await sleep(20);
  const s = await status();
  t.equal(s.discovery.lastError?.code, 'GP_ENDPOINTS_INVALID');
  t.match(s.discovery.lastError?.message, /endpoints\[0\]\.version: unknown version "nope"/);
  const res = await fetch(`${proxy.url}/`);
  t.equal(res.status, 200, 'traffic still goes to the last good endpoints');
  t.equal(((await res.json()) as { pod: string }).pod, pod.name);
  t.equal(await (await fetch(`${proxy.adminUrl}/readyz`)).status, 200, 'still ready');
  proxy.writeEndpoints(good);
  while ((await status()).discovery.lastError !== null && Date.now() < deadline + 5_000) await sleep(20);
  t.equal((await status()).discovery.lastError, null, 'a good edit clears the error');
});
