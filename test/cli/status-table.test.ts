// `glidepath status` text from /status documents: the exact layout for a rollout in progress,
// aborted, paused and absent, aligned columns, colour only when asked, and tolerance of fields
// an older or newer glidepath leaves out.

import t from 'tap';
import { renderStatus, percent, num, type StatusDocument } from '../../src/cli/status-table.ts';
import type { Evidence } from '../../src/rollout/evidence.ts';

const ready = { address: '10.0.0.1:8080', state: 'ready' as const };
const terminating = { address: '10.0.0.9:8080', state: 'terminating' as const };

// Counters as buildStatus() writes them (src/admin/status.ts); the renderer reads only some.
const counters = (requests: number, failures: number) => ({
  requests,
  failures,
  clientAborts: 0,
  statusClasses: { '1xx': 0, '2xx': requests - failures, '3xx': 0, '4xx': 0, '5xx': failures },
  attempts: { success: requests - failures },
  retries: 0,
  failovers: 0,
  ejections: 0,
  tunnels: { open: 0, total: 0 },
});

const base = {
  glidepath: '0.1.0',
  uptimeSeconds: 3723,
  inFlight: 3,
  discovery: { source: 'kubernetes shop/web', updates: 12, updatedAt: '2026-12-02T16:40:00.000Z', lastError: null },
  unrouted: counters(0, 0),
  rejected: { duplicate_host: 0 },
  retryBudgetExhausted: 0,
  fallback: false,
  panic: false,
};

const evidence: Evidence = {
  canary: '5d4c8b7a9',
  stable: '7f9c6d5b8',
  canaryAttempts: { requests: 40111, failures: 9 },
  stableAttempts: { requests: 120340, failures: 24 },
  stepCanaryAttempts: { requests: 30000, failures: 7 },
  lnE: Math.log(1.37),
  lnEThreshold: Math.log(200),
  lnSR: Math.log(12.4),
  lnSRThreshold: Math.log(200_000),
  components: [
    { name: 'failure-rate', lnE: Math.log(1.35), lnSR: Math.log(8.17), events: 33, active: true },
    { name: 'absolute-rate', lnE: 0, lnSR: 0, events: 0, active: false },
    { name: 'latency', lnE: Math.log(0.301), lnSR: Math.log(1.65), events: 410, active: true },
  ],
  abort: null,
  abortDecidedAt: null,
  advance: { lnE: Math.log(3.1), lnThreshold: Math.log(20), proven: false },
  requestsNeededToProve: 1240,
  rateRatio: { lower: 0.41, upper: 2.93 },
  latencyThresholdsMs: [12, 40.5, 120],
  budget: {
    clientRequests: 160451,
    excessFailures: 1.2,
    ratio: 1.2 / 160451,
    limit: 0.001,
    remaining: 159.25,
    excessVariance: 0.5,
    noiseAllowance: 5.6,
  },
};

const progressing: StatusDocument = {
  ...base,
  versions: [
    {
      name: '7f9c6d5b8',
      revision: 4,
      weight: 7500,
      effectiveWeight: 7500,
      endpoints: [ready, ready, ready, terminating],
      ...counters(120340, 24),
    },
    { name: '5d4c8b7a9', revision: 5, weight: 2500, effectiveWeight: 2500, endpoints: [ready], ...counters(40111, 9) },
  ],
  rollout: {
    phase: 'progressing',
    mode: 'gated',
    stable: '7f9c6d5b8',
    canary: '5d4c8b7a9',
    step: { index: 1, count: 4, setWeight: 25 },
    evidence,
    decisions: [
      { at: '2026-12-02T16:38:00.000Z', action: 'start', reason: 'new ReplicaSet 5d4c8b7a9 (revision 5)' },
      { at: '2026-12-02T16:39:00.000Z', action: 'advance', reason: 'step 1 -> 2: 5,000 canary requests, no sign of harm' },
    ],
  },
};

t.test('a rollout in progress: header, versions table, step, tests against thresholds, budget, decisions', async (t) => {
  t.equal(
    renderStatus(progressing),
    `glidepath 0.1.0, up 1h02m03s, 3 in flight
discovery: kubernetes shop/web (12 updates, last 2026-12-02T16:40:00.000Z): ok

VERSION             REVISION  WEIGHT  EFFECTIVE  READY  REQUESTS  FAILURES  FAILED
7f9c6d5b8 (stable)         4     75%        75%    3/4   120,340        24   0.02%
5d4c8b7a9 (canary)         5     25%        25%    1/1    40,111         9  0.022%

rollout: progressing (gated mode), step 2/4 at 25%
  canary 5d4c8b7a9 vs stable 7f9c6d5b8
  budget: 0.00075% of requests failed beyond stable's rate; limit 0.1%, 0.75% of it spent
          1.2 excess failures in 160,451 requests; 159 more affordable
          breaks only 5.6 failures past the limit (the noise allowance at stable's rate)
  abort test: e 1.37 of 200, Shiryaev-Roberts 12.4 of 2.0e+5: not crossed
    failure-rate: e 1.35, Shiryaev-Roberts 8.17, 33 events
    absolute-rate: off
    latency: e 0.301, Shiryaev-Roberts 1.65, 410 events
  advance test: e 3.1 of 20: not yet proven, 1,240 more canary requests needed
  first attempts: canary 40,111 (9 failed, 0.022%), stable 120,340 (24 failed, 0.02%); this step canary 30,000 (7 failed, 0.023%)
  rate ratio canary/stable: 0.41 to 2.93 (confidence sequence, this step)
  latency thresholds: p50 12 ms, p90 40.5 ms, p99 120 ms
  decisions:
    2026-12-02T16:38:00.000Z  start    new ReplicaSet 5d4c8b7a9 (revision 5)
    2026-12-02T16:39:00.000Z  advance  step 1 -> 2: 5,000 canary requests, no sign of harm
`,
  );
});

t.test('the versions table is aligned: every row has its cells under the headers', async (t) => {
  const doc: StatusDocument = {
    ...base,
    versions: [
      {
        name: 'a-very-long-version-name',
        revision: 12345,
        weight: 3333,
        effectiveWeight: 10000,
        endpoints: [ready],
        ...counters(1_234_567, 1),
      },
      { name: 'b', revision: 1, weight: 6667, effectiveWeight: 0, endpoints: [terminating], ...counters(0, 0) },
    ],
    unrouted: counters(5, 5),
  };
  const text = renderStatus(doc);
  const lines = text.split('\n');
  const header = lines.find((l) => l.startsWith('VERSION')) as string;
  const rows = lines.slice(lines.indexOf(header) + 1, lines.indexOf(header) + 4);
  t.equal(rows.length, 3);
  t.match(rows[0], /^a-very-long-version-name +12345 +33\.33% +100% +1\/1 +1,234,567 +1 +0\.000081%$/);
  t.match(rows[1], /^b +1 +66\.67% +0% +0\/1 +0 +0 +-$/, 'no requests: no failure percentage');
  t.match(rows[2], /^\(unrouted\) +5 +5 +100%$/, 'requests no version could take are shown');
  // Right-aligned numbers end where their header ends.
  for (const column of ['REVISION', 'WEIGHT', 'EFFECTIVE', 'READY', 'REQUESTS', 'FAILURES']) {
    const end = header.indexOf(column) + column.length;
    for (const row of rows.slice(0, 2)) t.match(row[end - 1], /[0-9%/]/, `${column} ends at column ${end}`);
    for (const row of rows.slice(0, 2)) t.equal(row[end], ' ', `${column} is followed by a space`);
  }
});

t.test('an aborted rollout says why, when, and how fast the canary was cut', async (t) => {
  const aborted: StatusDocument = {
    ...progressing,
    versions: [
      { name: '7f9c6d5b8', revision: 4, weight: 10000, effectiveWeight: 10000, endpoints: [ready, ready], ...counters(5000, 1) },
      { name: '5d4c8b7a9', revision: 5, weight: 0, effectiveWeight: 0, endpoints: [ready], ...counters(260, 80) },
    ],
    rollout: {
      phase: 'aborted',
      mode: 'gated',
      stable: '7f9c6d5b8',
      canary: '5d4c8b7a9',
      step: { index: 0, count: 4, setWeight: 5 },
      abort: {
        reason: 'failure-rate',
        decidedAt: '2026-12-02T16:41:07.412Z',
        cutMs: 3.4,
        message: 'rolled back to revision 4; template 5d4c8b7a9 will not be rolled out again until it changes',
      },
      evidence: {
        ...evidence,
        lnE: Math.log(412.7),
        abort: 'failure-rate',
        abortDecidedAt: 123456,
        rateRatio: { lower: 12.5, upper: Infinity },
      },
      decisions: Array.from({ length: 8 }, (_, i) => ({
        at: `2026-12-02T16:4${i}:00.000Z`,
        action: i === 7 ? 'abort' : 'hold',
        reason: `decision ${i + 1}`,
      })),
    },
  };
  const text = renderStatus(aborted);
  t.match(text, /^rollout: aborted \(gated mode\), step 1\/4 at 5%$/m);
  t.match(text, /^ {2}ABORTED: failure-rate at 2026-12-02T16:41:07\.412Z; canary cut 3\.4 ms after the deciding request$/m);
  t.match(text, /^ {4}rolled back to revision 4; template 5d4c8b7a9 will not/m);
  t.match(text, /^ {2}abort test: e 413 of 200, .*: crossed \(failure-rate\)$/m);
  t.match(text, /rate ratio canary\/stable: 12\.5 to inf/);
  t.match(text, /^ {2}decisions \(last 5 of 8\):$/m);
  t.notMatch(text, /decision 3\b/, 'older decisions are left out');
  t.match(text, /^ {4}2026-12-02T16:47:00\.000Z {2}abort {2}decision 8$/m);
  t.match(text, /^5d4c8b7a9 \(canary\) +5 +0% +0% +1\/1 +260 +80 +30\.8%$/m);
  t.notMatch(text, /\x1b\[/, 'no escape codes unless colour is asked for');
  const coloured = renderStatus(aborted, { color: true });
  t.match(coloured, /rollout: \x1b\[31maborted\x1b\[0m/);
  t.match(coloured, /\x1b\[1mVERSION/);
  t.equal(coloured.replace(/\x1b\[\d+m/g, ''), text, 'colour changes nothing else');
});

t.test('paused, proven, completed: the words an operator acts on', async (t) => {
  const paused = renderStatus({
    ...progressing,
    rollout: {
      ...progressing.rollout,
      phase: 'paused',
      pausedReason: 'too little traffic: 2,400 more canary requests needed by maxStepDuration',
      evidence: { ...evidence, advance: { lnE: Math.log(25), lnThreshold: Math.log(20), proven: true }, requestsNeededToProve: 0 },
    },
  });
  t.match(paused, /^rollout: paused \(gated mode\), step 2\/4 at 25%$/m);
  t.match(paused, /^ {2}paused: too little traffic: 2,400 more canary requests needed by maxStepDuration$/m);
  t.match(paused, /^ {2}advance test: e 25 of 20: proven not worse$/m);

  const completed = renderStatus({
    ...base,
    versions: progressing.versions,
    rollout: { phase: 'completed', mode: 'observe', stable: '5d4c8b7a9', step: { index: 4, count: 4, setWeight: 100 } },
  });
  t.match(completed, /^rollout: completed \(observe mode\)$/m, 'a finished rollout shows no step');
  t.match(completed, /^ {2}stable 5d4c8b7a9$/m, 'and only the version now stable');
  t.notMatch(completed, /abort test|budget/, 'no evidence, no evidence lines');
});

t.test('what an older or partial document leaves out is left out', async (t) => {
  const text = renderStatus({ glidepath: '0.0.9', versions: [{ name: 'v1' }] });
  t.equal(
    text,
    `glidepath 0.0.9

VERSION  REVISION  WEIGHT  EFFECTIVE  READY  REQUESTS  FAILURES  FAILED
v1              -       -          -    0/0         -         -       -

rollout: none reported (no rollout controller: glidepath runs without --deployment)
`,
  );
  const broken = renderStatus({
    ...base,
    uptimeSeconds: 59,
    discovery: {
      source: 'endpoints file /etc/glidepath/endpoints.yaml',
      updates: 1,
      updatedAt: null,
      lastError: {
        code: 'GP_ENDPOINTS_INVALID',
        message: 'endpoints.yaml: 2 errors\n  endpoints[0].address: expected "host:port"\n  endpoints[1].version: unknown version "v3"',
      },
    },
    versions: [],
    rejected: { duplicate_host: 2, target_form: 1, too_many_headers: 0 },
    fallback: true,
    panic: true,
    leader: { identity: 'glidepath-7d9f-abcde', isLeader: true, since: '2026-12-02T16:00:00Z', lease: { nested: 'ignored' } },
  });
  t.match(broken, /^glidepath 0\.1\.0, up 59s, 3 in flight$/m);
  t.match(broken, /^discovery: endpoints file \/etc\/glidepath\/endpoints\.yaml \(1 update\): ERROR$/m);
  t.match(
    broken,
    /^ {2}GP_ENDPOINTS_INVALID: endpoints\.yaml: 2 errors\n {4}endpoints\[0\]\.address: expected "host:port"\n {4}endpoints\[1\]/m,
    'a multi-line error stays indented',
  );
  t.match(broken, /^fallback: no ready endpoint anywhere/m);
  t.match(broken, /^panic: every ready endpoint is ejected/m);
  t.match(broken, /^leader: identity glidepath-7d9f-abcde, isLeader true, since 2026-12-02T16:00:00Z$/m);
  t.match(broken, /^versions: none \(no endpoints loaded yet\)$/m);
  t.match(broken, /^rejected before routing: 3 \(duplicate_host 2, target_form 1\)$/m);
});

t.test('numbers: percentages with the digits that matter, e-values plain', async (t) => {
  t.equal(percent(0), '0%');
  t.equal(percent(0.25), '25%');
  t.equal(percent(1), '100%');
  t.equal(percent(0.123456), '12.3%');
  t.equal(percent(0.0123), '1.2%');
  t.equal(percent(0.00012), '0.012%');
  t.equal(percent(8.1e-7), '0.000081%');
  t.equal(percent(1e-9), '<0.000001%');
  t.equal(percent(Number.NaN), '-');
  t.equal(num(200), '200');
  t.equal(num(1.3749), '1.37');
  t.equal(num(2e5), '2.0e+5');
  t.equal(num(0.0004), '4.0e-4');
  t.equal(num(0), '0');
  t.equal(num(Infinity), 'inf');
  t.equal(num(Math.exp(Math.log(2 / 0.01))), '200', 'thresholds come back from log space as round numbers');
});
