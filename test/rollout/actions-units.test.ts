// The pure parts of the rollout actions: undo's template equality and annotations, selectors, the
// abort record's size bound, the error mapping, and the executor's order, retries and status
// driven tick by tick with a fake clock.

import t from 'tap';
import type { Clock, ClockTimer } from '../../src/core/control.ts';
import type { Evidence } from '../../src/rollout/evidence.ts';
import { abortRecordJson, MAX_ABORT_RECORD_BYTES } from '../../src/rollout/actions/abort-record.ts';
import { fromStatus, isRetryable, unreachable } from '../../src/rollout/actions/errors.ts';
import type { KubernetesError, Operation } from '../../src/rollout/actions/errors.ts';
import { ActionExecutor } from '../../src/rollout/actions/executor.ts';
import {
  checkAnnotationKey,
  equalIgnoreHash,
  labelSelectorString,
  rollbackAnnotations,
  semanticEqual,
} from '../../src/rollout/actions/template.ts';

t.test('semantic equality: null, absent and empty are equal, key order is not significant', async (t) => {
  t.ok(semanticEqual({ a: 1, b: null, c: [], d: {} }, { a: 1 }));
  t.ok(semanticEqual({ x: { b: 2, a: 1 } }, { x: { a: 1, b: 2 } }));
  t.notOk(semanticEqual({ a: [1, 2] }, { a: [2, 1] }), 'list order matters');
  t.notOk(semanticEqual({ a: '1' }, { a: 1 }));
  t.notOk(semanticEqual({ a: false }, {}), 'false is a value, not absence');
});

t.test('equalIgnoreHash ignores only the pod-template-hash label', async (t) => {
  const rsTemplate = {
    metadata: { creationTimestamp: null, labels: { app: 'web', 'pod-template-hash': 'abc12' } },
    spec: { containers: [{ name: 'app', image: 'demo:v1' }] },
  };
  const depTemplate = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'demo:v1' }] } };
  t.ok(equalIgnoreHash(rsTemplate, depTemplate));
  t.equal(rsTemplate.metadata.labels['pod-template-hash'], 'abc12', 'the input is not modified');
  t.notOk(equalIgnoreHash(rsTemplate, { ...depTemplate, spec: { containers: [{ name: 'app', image: 'demo:v2' }] } }));
  t.notOk(equalIgnoreHash(rsTemplate, { ...depTemplate, metadata: { labels: { app: 'web', tier: 'x' } } }));
});

t.test('rollback annotations: kubectl undo semantics, glidepath records kept from the Deployment', async (t) => {
  const deployment = {
    'deployment.kubernetes.io/revision': '2',
    'kubectl.kubernetes.io/last-applied-configuration': '{}',
    'kubernetes.io/change-cause': 'set image v2',
    team: 'b',
    'glidepath.io/rollout-state': '{"step":3}',
    'glidepath.io/abort': '{"reason":"latency"}',
  };
  const replicaSet = {
    'deployment.kubernetes.io/revision': '1',
    'deployment.kubernetes.io/desired-replicas': '2',
    'kubernetes.io/change-cause': 'first',
    team: 'a',
    'glidepath.io/rollout-state': '{"step":0}',
  };
  t.same(rollbackAnnotations(deployment, replicaSet), {
    'deployment.kubernetes.io/revision': '2',
    'kubectl.kubernetes.io/last-applied-configuration': '{}',
    'kubernetes.io/change-cause': 'first',
    team: 'a',
    'glidepath.io/rollout-state': '{"step":3}',
    'glidepath.io/abort': '{"reason":"latency"}',
  });
});

t.test('label selectors become query strings', async (t) => {
  t.equal(labelSelectorString({ matchLabels: { app: 'web', tier: 'fe' } }), 'app=web,tier=fe');
  t.equal(
    labelSelectorString({
      matchExpressions: [
        { key: 'env', operator: 'In', values: ['prod', 'canary'] },
        { key: 'x', operator: 'NotIn', values: ['1'] },
        { key: 'y', operator: 'Exists' },
        { key: 'z', operator: 'DoesNotExist' },
      ],
    }),
    'env in (canary,prod),x notin (1),y,!z',
  );
  t.throws(() => labelSelectorString({ matchExpressions: [{ key: 'a', operator: 'Gt' }] }), /not one of In/);
});

t.test('annotation keys are checked like the apiserver checks qualified names', async (t) => {
  t.equal(checkAnnotationKey('glidepath.io/rollout-state'), undefined);
  t.equal(checkAnnotationKey('plain'), undefined);
  t.match(checkAnnotationKey('Bad_Prefix/x') ?? '', /not a qualified name/);
  t.match(checkAnnotationKey(`a/${'n'.repeat(64)}`) ?? '', /longer than 63/);
});

const evidence: Evidence = {
  canary: 'c5d6',
  stable: 'b7f8',
  canaryAttempts: { requests: 412, failures: 9 },
  stableAttempts: { requests: 7830, failures: 3 },
  stepCanaryAttempts: { requests: 200, failures: 9 },
  lnE: 5.4123456,
  lnEThreshold: Math.log(200),
  lnSR: 7.1,
  lnSRThreshold: 9.9,
  components: [
    { name: 'failure-rate', lnE: 5.41, lnSR: 7.1, events: 12, active: true },
    { name: 'absolute-rate', lnE: -Infinity, lnSR: 0, events: 412, active: false },
  ],
  abort: 'failure-rate',
  abortDecidedAt: 1234.5,
  advance: { lnE: 0, lnThreshold: 3, proven: false },
  requestsNeededToProve: 3000,
  rateRatio: { lower: 3.2, upper: Infinity },
  latencyThresholdsMs: [12.3456, 40, 120],
  budget: {
    clientRequests: 8242,
    excessFailures: 0.2,
    ratio: 0.0000242,
    limit: 0.001,
    remaining: 8,
    excessVariance: 0.5,
    noiseAllowance: 5.6,
  },
};

t.test('the abort record carries the evidence, compactly, and stays under its bound', async (t) => {
  const json = abortRecordJson({
    reason: 'failure-rate',
    message: 'canary c5d6 fails more often than stable',
    at: Date.UTC(2026, 0, 2, 3, 4, 5),
    canary: 'c5d6',
    stable: 'b7f8',
    action: 'rollback',
    decisionMs: 0.8123,
    evidence,
  });
  const r = JSON.parse(json);
  t.equal(r.reason, 'failure-rate');
  t.equal(r.at, '2026-01-02T03:04:05.000Z');
  t.equal(r.canary, 'c5d6');
  t.equal(r.evidence.lnE, 5.412, 'four significant digits');
  t.equal(r.evidence.components[1].lnE, '-Infinity', 'non-finite numbers survive as text');
  t.equal(r.evidence.rateRatio.upper, 'Infinity');
  t.same(r.evidence.canaryAttempts, { requests: 412, failures: 9 });
  t.equal(r.truncated, undefined);
  t.ok(json.length < 1200, `small: ${json.length} bytes`);

  const long = abortRecordJson({
    reason: 'manual',
    message: 'é"'.repeat(10_000),
    at: 0,
    canary: 'c',
    stable: 's',
    action: 'none',
    evidence,
  });
  t.ok(Buffer.byteLength(long) <= MAX_ABORT_RECORD_BYTES, `bounded: ${Buffer.byteLength(long)} bytes`);
  const lr = JSON.parse(long);
  t.equal(lr.truncated, true);
  t.ok(lr.evidence, 'the message is cut before the evidence');
  t.match(lr.message, /…$/);

  const tiny = abortRecordJson(
    { reason: 'manual', message: 'x'.repeat(500), at: 0, canary: 'c', stable: 's', action: 'pause', evidence },
    600,
  );
  t.ok(Buffer.byteLength(tiny) <= 600);
  t.equal(JSON.parse(tiny).evidence, null, 'the evidence goes when even a short message cannot fit with it');
});

const op: Operation = {
  verb: 'patch',
  group: 'apps',
  resource: 'deployments',
  namespace: 'shop',
  name: 'web',
  alternative: 'set rollout.mode: observe and rollout.abortAction: none',
};
const status = (code: number, reason: string, message: string): string =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message });

t.test('API failures map to codes, retryability and messages that say what to fix', async (t) => {
  const forbidden = fromStatus(
    op,
    403,
    status(
      403,
      'Forbidden',
      'deployments.apps "web" is forbidden: User "system:serviceaccount:shop:glidepath" cannot patch resource "deployments" in API group "apps" in the namespace "shop"',
    ),
  );
  t.equal(forbidden.code, 'GP_KUBERNETES_FORBIDDEN');
  t.equal(
    forbidden.message,
    'patch deployments/web in namespace shop is forbidden for system:serviceaccount:shop:glidepath: grant verb patch on apps/deployments (or set rollout.mode: observe and rollout.abortAction: none)',
  );
  t.notOk(forbidden.retryable);
  const events = fromStatus(
    { verb: 'create', group: '', resource: 'events', namespace: 'shop' },
    403,
    status(403, 'Forbidden', 'events is forbidden: User "u" cannot create resource "events" in API group "" in the namespace "shop"'),
  );
  t.equal(events.message, 'create events in namespace shop is forbidden for u: grant verb create on events (core API group "")');
  t.match(fromStatus(op, 401, '').message, /did not accept glidepath's credentials/);
  const missing = fromStatus(op, 404, status(404, 'NotFound', 'deployments.apps "web" not found'));
  t.equal(missing.code, 'GP_KUBERNETES_NOT_FOUND');
  t.match(
    missing.message,
    /deployments\/web in namespace shop: not found: deployments.apps "web" not found; check the name and the namespace/,
  );
  t.equal(fromStatus(op, 409, status(409, 'Conflict', 'modified')).code, 'GP_KUBERNETES_CONFLICT');
  t.ok(isRetryable(fromStatus(op, 409, '')));
  for (const code of [500, 503, 429]) {
    const e = fromStatus(op, code, 'not json');
    t.equal(e.code, 'GP_KUBERNETES_SERVER_ERROR', `${code}`);
    t.ok(e.retryable);
  }
  const invalid = fromStatus(op, 422, status(422, 'Invalid', 'Deployment.apps "web" is invalid: spec.template: bad'));
  t.equal(invalid.code, 'GP_KUBERNETES_REJECTED');
  t.notOk(invalid.retryable);
  const down = unreachable(
    op,
    'https://10.0.0.1:6443',
    Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 10.0.0.1:6443' } }),
  );
  t.equal(down.code, 'GP_KUBERNETES_UNREACHABLE');
  t.ok(down.retryable);
  t.match(down.message, /the Kubernetes API at https:\/\/10.0.0.1:6443 is unreachable: ECONNREFUSED/);
  t.match(unreachable(op, 'x', new DOMException('aborted', 'TimeoutError')).message, /no answer within the request timeout/);
  t.notOk(isRetryable(new Error('plain')));
});

/** A clock whose timers fire only when the test advances it. */
class FakeClock implements Clock {
  #now = 0;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #ids = 0;
  now(): number {
    return this.#now;
  }
  wallNow(): number {
    return 1_000_000 + this.#now;
  }
  setTimeout(fn: () => void, ms: number): ClockTimer {
    const timer = { at: this.#now + ms, fn, id: this.#ids++, unref: () => timer };
    this.#timers.push(timer);
    return timer;
  }
  clearTimeout(timer: ClockTimer | undefined): void {
    this.#timers = this.#timers.filter((x) => x !== timer);
  }
  get pendingDelays(): number[] {
    return this.#timers.map((x) => x.at - this.#now);
  }
  /** Moves time forward, firing due timers, and lets promise continuations run. */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    for (;;) {
      await flush();
      const next = this.#timers.filter((x) => x.at <= until).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!next) break;
      this.#timers = this.#timers.filter((x) => x !== next);
      this.#now = next.at;
      next.fn();
    }
    this.#now = until;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

const transient = (): KubernetesError => fromStatus(op, 503, '');

t.test('executor: one at a time, in order, and the caller never waits', async (t) => {
  const clock = new FakeClock();
  const ex = new ActionExecutor({ clock });
  const log: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const first = ex.run('rollback', async () => {
    log.push('rollback start');
    await gate;
    log.push('rollback end');
    return 'r';
  });
  const second = ex.run('event', async () => {
    log.push('event');
    return 'e';
  });
  t.same(log, ['rollback start'], 'started at once, the second waits');
  t.equal(ex.queued, 1);
  release();
  t.same(await first, { ok: true, value: 'r', attempts: 1 });
  t.same(await second, { ok: true, value: 'e', attempts: 1 });
  t.same(log, ['rollback start', 'rollback end', 'event']);
  await ex.idle();
});

t.test('executor: transient failures retried with capped doubling backoff; permanent ones not', async (t) => {
  const clock = new FakeClock();
  const retries: number[] = [];
  const ex = new ActionExecutor({
    clock,
    baseDelayMs: 100,
    maxDelayMs: 300,
    maxAttempts: 5,
    onRetry: (_k, _e, _a, delay) => retries.push(delay),
  });
  let calls = 0;
  const flaky = ex.run('pause', async () => {
    if (++calls < 4) throw transient();
    return 'paused';
  });
  await clock.advance(0);
  t.equal(calls, 1);
  t.same(clock.pendingDelays, [100]);
  t.equal(ex.status()[0]?.retrying, true, '/status shows the backoff');
  t.equal(ex.status()[0]?.lastError?.code, 'GP_KUBERNETES_SERVER_ERROR');
  await clock.advance(99);
  t.equal(calls, 1, 'not before the delay');
  await clock.advance(1);
  t.equal(calls, 2);
  await clock.advance(200);
  t.equal(calls, 3);
  await clock.advance(300);
  t.equal(calls, 4);
  t.same(await flaky, { ok: true, value: 'paused', attempts: 4 });
  t.same(retries, [100, 200, 300], 'doubling, capped at maxDelayMs');
  const s = ex.status().find((x) => x.kind === 'pause');
  t.equal(s?.succeeded, 1);
  t.equal(s?.retrying, false);
  t.equal(s?.lastSuccessAt, 1_000_600);
  t.equal(s?.lastError?.attempts, 3, 'the last error is kept for /status after the success');

  let forbiddenCalls = 0;
  const denied = await ex.run('rollback', async () => {
    forbiddenCalls++;
    throw fromStatus(op, 403, '');
  });
  t.equal(denied.ok, false);
  t.equal(forbiddenCalls, 1, 'a 403 is not retried');
  t.equal(!denied.ok && (denied.error as KubernetesError).code, 'GP_KUBERNETES_FORBIDDEN');
  t.equal(ex.status().find((x) => x.kind === 'rollback')?.failed, 1);

  let downCalls = 0;
  const giveUp = ex.run('event', async () => {
    downCalls++;
    throw transient();
  });
  await clock.advance(10_000);
  const out = await giveUp;
  t.equal(downCalls, 5, 'maxAttempts bounds the retries');
  t.same(out.ok ? null : out.attempts, 5);
  t.equal(ex.status().find((x) => x.kind === 'event')?.lastError?.retryable, true);
});

t.test('executor: a repeat of the action queued last is coalesced; close() ends what waits', async (t) => {
  const clock = new FakeClock();
  const ex = new ActionExecutor({ clock, baseDelayMs: 1000 });
  let calls = 0;
  const blocked = ex.run('state', async () => {
    calls++;
    throw transient();
  });
  const a = ex.run(
    'pause',
    async () => {
      calls++;
      return 1;
    },
    { key: 'pause:true' },
  );
  const b = ex.run(
    'pause',
    async () => {
      calls++;
      return 2;
    },
    { key: 'pause:true' },
  );
  t.equal(a, b, 'same outcome shared');
  const c = ex.run(
    'pause',
    async () => {
      calls++;
      return 3;
    },
    { key: 'pause:false' },
  );
  t.not(c, a);
  t.equal(ex.queued, 2);
  await clock.advance(0);
  t.equal(calls, 1, 'the first is in its backoff');
  const closing = ex.close();
  const [ra, rc, rb] = await Promise.all([a, c, blocked]);
  await closing;
  t.equal(ra.ok, false);
  t.equal(!ra.ok && (ra.error as { code?: string }).code, 'GP_SHUTTING_DOWN');
  t.equal(rc.ok, false);
  t.equal(rb.ok, false, 'the one in backoff is not retried after close');
  t.equal(calls, 1);
  const late = await ex.run('pause', async () => 1);
  t.equal(late.ok, false, 'nothing runs after close');
});
