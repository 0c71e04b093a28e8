// The watch protocol of the simulated API server on the wire: headers flushed at once, replay from a
// resourceVersion, selector transitions, bookmarks, timeoutSeconds and 410 Expired (Kubernetes
// API concepts, "Efficient detection of changes").

import t from 'tap';
import { rawWatch, testCluster } from './helpers.ts';
import type { WatchEvent } from './helpers.ts';
import type { Cluster } from '../../testkit/cluster/index.ts';
import { waitFor } from '../../testkit/wait.ts';

const CM = '/api/v1/namespaces/default/configmaps';

async function api(
  cluster: Cluster,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; body: Record<string, unknown>; contentType: string | null }> {
  const res = await fetch(`${cluster.url}${path}`, {
    method,
    headers: { 'content-type': contentType },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, contentType: res.headers.get('content-type') };
}

t.test('watch headers are flushed before any event, and events replay from a resourceVersion', async (t) => {
  const cluster = await testCluster(t);
  const list = await api(cluster, 'GET', CM);
  const rv = (list.body.metadata as { resourceVersion: string }).resourceVersion;
  const started = Date.now();
  const res = await fetch(`${cluster.url}${CM}?watch=true&resourceVersion=${rv}`);
  t.ok(Date.now() - started < 5000, 'the response arrived with no event to send (it would never come otherwise)');
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'application/json');
  t.equal(res.headers.get('transfer-encoding'), 'chunked');
  await res.body?.cancel();

  await api(cluster, 'POST', CM, { metadata: { name: 'a' } });
  await api(cluster, 'POST', CM, { metadata: { name: 'b' } });
  const events: WatchEvent[] = [];
  const w = await rawWatch(cluster, `${CM}?resourceVersion=${rv}`, (e) => events.push(e));
  t.teardown(() => w.stop());
  await waitFor('the replay', () => events.length === 2);
  t.same(
    events.map((e) => `${e.type} ${e.object.metadata.name}`),
    ['ADDED a', 'ADDED b'],
  );
  t.equal((events[0]?.object as { kind?: string }).kind, 'ConfigMap', 'watch events carry kind and apiVersion');
  t.ok(Number(events[1]?.object.metadata.resourceVersion) > Number(events[0]?.object.metadata.resourceVersion));
  const listed = await api(cluster, 'GET', CM);
  t.notOk('kind' in ((listed.body.items as Record<string, unknown>[])[0] ?? {}), 'list items carry no kind');
  t.equal(listed.body.kind, 'ConfigMapList');
});

t.test('a watch without resourceVersion starts with the current state; selectors produce ADDED and DELETED', async (t) => {
  const cluster = await testCluster(t);
  await api(cluster, 'POST', CM, { metadata: { name: 'x', labels: { tier: 'a' } } });
  const events: WatchEvent[] = [];
  const w = await rawWatch(cluster, `${CM}?labelSelector=tier%20in%20(a%2Cb)`, (e) => events.push(e));
  t.teardown(() => w.stop());
  await waitFor('the initial ADDED', () => events.length === 1);
  await api(cluster, 'PATCH', `${CM}/x`, { metadata: { labels: { tier: 'c' } } }, 'application/merge-patch+json');
  await api(cluster, 'PATCH', `${CM}/x`, { metadata: { labels: { tier: 'b' } } }, 'application/merge-patch+json');
  await api(cluster, 'PATCH', `${CM}/x`, { data: { k: 'v' } }, 'application/merge-patch+json');
  await api(cluster, 'DELETE', `${CM}/x`);
  await waitFor('five events', () => events.length === 5);
  t.same(
    events.map((e) => e.type),
    ['ADDED', 'DELETED', 'ADDED', 'MODIFIED', 'DELETED'],
  );
  t.equal(events[1]?.object.metadata.labels?.tier, 'a', 'leaving the selector sends the last matching state');
});

t.test('bookmarks, timeoutSeconds, and 410 Expired in the stream', async (t) => {
  const cluster = await testCluster(t, { bookmarkIntervalMs: 100 });
  const events: WatchEvent[] = [];
  const started = Date.now();
  const w = await rawWatch(cluster, `${CM}?allowWatchBookmarks=true&timeoutSeconds=1&resourceVersion=1`, (e) => events.push(e));
  await w.done;
  const took = Date.now() - started;
  t.ok(took >= 900 && took < 5000, `the server ended the stream after timeoutSeconds (${took} ms)`);
  const bookmarks = events.filter((e) => e.type === 'BOOKMARK');
  t.ok(bookmarks.length >= 3, `bookmarks every 100 ms (${bookmarks.length})`);
  t.same(Object.keys(bookmarks[0]?.object.metadata ?? {}), ['resourceVersion']);
  t.equal((bookmarks[0]?.object as { kind?: string }).kind, 'ConfigMap');

  await api(cluster, 'POST', CM, { metadata: { name: 'after' } });
  cluster.faults.compact();
  const expired: WatchEvent[] = [];
  const w2 = await rawWatch(cluster, `${CM}?resourceVersion=1`, (e) => expired.push(e));
  await w2.done;
  t.equal(expired.length, 1);
  t.equal(expired[0]?.type, 'ERROR');
  t.match(expired[0]?.object, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    reason: 'Expired',
    code: 410,
    message: /^too old resource version: 1 \(\d+\)$/,
  });

  cluster.faults.expireNextWatch();
  const forced: WatchEvent[] = [];
  const w3 = await rawWatch(cluster, CM, (e) => forced.push(e));
  await w3.done;
  t.equal(forced[0]?.type, 'ERROR');
});

t.test('fault injection: latency, a failing request, a dropped connection', async (t) => {
  const cluster = await testCluster(t);
  cluster.faults.setLatency(200);
  const started = Date.now();
  t.equal((await api(cluster, 'GET', CM)).status, 200);
  t.ok(Date.now() - started >= 190, 'latency added');
  cluster.faults.setLatency(0);
  cluster.faults.failNext(503);
  const failed = await api(cluster, 'GET', CM);
  t.equal(failed.status, 503);
  t.equal(failed.contentType, 'application/json');
  t.match(failed.body, { kind: 'Status', code: 503 });
  t.equal((await api(cluster, 'GET', CM)).status, 200, 'only once');
  cluster.faults.dropNextConnection();
  await t.rejects(fetch(`${cluster.url}${CM}`), 'the connection is reset');
  t.equal((await api(cluster, 'GET', CM)).status, 200);
});
