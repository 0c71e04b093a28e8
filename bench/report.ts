// Turns the per-round measurements into what the bench is for: same-round ratios, CPU per
// request and added latency, their medians, the PASS/FAIL checks, and a readable table.

import type { LatencyRun, ThroughputRun } from './loadgen.ts';

export interface ThroughputRecord {
  readonly run: ThroughputRun;
  readonly warmup: ThroughputRun;
  /** Runs redone (with their warm-ups) because others loaded the VM meanwhile; kept for the error check. */
  readonly discarded: readonly (ThroughputRun & { otherLoadPct: number })[];
  /** CPU of the proxy's process tree over the measured window (0 for direct). */
  readonly proxyCpuUs: number;
  readonly backendCpuUs: number;
  readonly proxyUsPerRequest: number | null;
  readonly backendUsPerRequest: number;
  /** Proxy CPU as a share of one core over the window. */
  readonly proxyBusyPct: number | null;
  /** Share of the proxy's CPU spent in the kernel (stime). */
  readonly proxySysPct: number | null;
  readonly stealPct: number;
  /** CPU used by processes that are not the bench's during the window, % of one core. */
  readonly otherLoadPct: number;
}

export interface Round {
  readonly round: number;
  readonly order: readonly string[];
  readonly throughput: Record<string, ThroughputRecord>;
  readonly latency: Record<string, LatencyRecord>;
}

export interface LatencyRecord extends LatencyRun {
  readonly otherLoadPct: number;
  readonly discarded: readonly (LatencyRun & { otherLoadPct: number })[];
}

export interface Check {
  readonly name: string;
  readonly value: number | null;
  readonly limit: string;
  readonly result: 'PASS' | 'FAIL' | 'SKIP';
}

export interface Summary {
  readonly rps: Record<string, { perRound: number[]; median: number }>;
  /** "a/b": a's req/s over b's in the same round. */
  readonly ratios: Record<string, { perRound: number[]; median: number }>;
  /** "a/b": a's CPU per request over b's in the same round; also the ratio of the two medians. */
  readonly cpuRatios: Record<string, { perRound: number[]; median: number; ofMedians: number }>;
  readonly cpuUsPerRequest: Record<
    string,
    { perRound: number[]; median: number; min: number; backendMedian: number; busyPctMedian: number | null; sysPctMedian: number | null }
  >;
  readonly latency: Record<
    string,
    {
      p50Us: number[];
      p99Us: number[];
      addedP50Us: number[];
      addedP99Us: number[];
      medianAddedP50Us: number;
      medianAddedP99Us: number;
      medianP50Us: number;
      medianP99Us: number;
    }
  >;
  readonly checks: Check[];
  /** Outside interference during throughput runs (others share the VM), % of one core. */
  readonly noise: { otherLoadPctMedian: number; otherLoadPctMax: number; stealPctMax: number; redone: number; noisyRuns: string[] };
  readonly errors: { runs: number; requests: number; socketErrors: number; non2xx: number; problems: string[] };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

const perRound = (rounds: readonly Round[], f: (r: Round) => number | null | undefined): number[] =>
  rounds.map(f).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));

export const TARGETS_GOAL = {
  vsNginx: 0.6,
  vsHttpProxy: 2,
  cpuUs: 60,
  addedP50Us: 250,
  addedP99Us: 1000,
  rolloutCpuRatio: 1.05,
  dispatchCpuRatio: 1.15,
} as const;

/** glidepath-rollout's canary weight in basis points (5 %); stable has the rest. */
export const ROLLOUT_CANARY_WEIGHT = 500;

export function summarise(rounds: readonly Round[], targets: readonly string[], extraProblems: readonly string[]): Summary {
  const rps: Summary['rps'] = {};
  const cpu: Summary['cpuUsPerRequest'] = {};
  const latency: Summary['latency'] = {};
  for (const t of targets) {
    const r = perRound(rounds, (x) => x.throughput[t]?.run.rps);
    rps[t] = { perRound: r, median: median(r) };
    if (t !== 'direct') {
      const c = perRound(rounds, (x) => x.throughput[t]?.proxyUsPerRequest);
      const busy = perRound(rounds, (x) => x.throughput[t]?.proxyBusyPct);
      const sys = perRound(rounds, (x) => x.throughput[t]?.proxySysPct);
      cpu[t] = {
        perRound: c,
        median: median(c),
        min: Math.min(...c),
        backendMedian: median(perRound(rounds, (x) => x.throughput[t]?.backendUsPerRequest)),
        busyPctMedian: busy.length ? median(busy) : null,
        sysPctMedian: sys.length ? median(sys) : null,
      };
    } else {
      const b = perRound(rounds, (x) => x.throughput[t]?.backendUsPerRequest);
      cpu[t] = { perRound: [], median: NaN, min: NaN, backendMedian: median(b), busyPctMedian: null, sysPctMedian: null };
    }
    const p50 = perRound(rounds, (x) => x.latency[t]?.p50Us);
    const p99 = perRound(rounds, (x) => x.latency[t]?.p99Us);
    // Added latency is always against direct of the same round: the VM's mood cancels out.
    const a50 = perRound(rounds, (x) => diff(x.latency[t]?.p50Us, x.latency.direct?.p50Us));
    const a99 = perRound(rounds, (x) => diff(x.latency[t]?.p99Us, x.latency.direct?.p99Us));
    latency[t] = {
      p50Us: p50,
      p99Us: p99,
      addedP50Us: a50,
      addedP99Us: a99,
      medianAddedP50Us: median(a50),
      medianAddedP99Us: median(a99),
      medianP50Us: median(p50),
      medianP99Us: median(p99),
    };
  }

  const ratios: Summary['ratios'] = {};
  const pairs: [string, string][] = [];
  for (const ref of ['direct', 'nginx', 'http-proxy', 'dispatch'])
    if (targets.includes('glidepath') && targets.includes(ref)) pairs.push(['glidepath', ref]);
  for (const ref of ['glidepath', 'direct', 'dispatch'])
    if (targets.includes('glidepath-rollout') && targets.includes(ref)) pairs.push(['glidepath-rollout', ref]);
  for (const t of ['nginx', 'http-proxy', 'dispatch']) if (targets.includes(t)) pairs.push([t, 'direct']);
  for (const [a, b] of pairs) {
    const r = perRound(rounds, (x) => diffRatio(x.throughput[a]?.run.rps, x.throughput[b]?.run.rps));
    ratios[`${a}/${b}`] = { perRound: r, median: median(r) };
  }
  // CPU per request side by side: the rollout's cost over the single version, and both over the
  // floor (a bare undici Pool.dispatch proxy). Same round, so the VM's mood of the moment cancels.
  const cpuRatios: Summary['cpuRatios'] = {};
  for (const [a, b] of [
    ['glidepath-rollout', 'glidepath'],
    ['glidepath', 'dispatch'],
    ['glidepath-rollout', 'dispatch'],
  ] as const) {
    if (!targets.includes(a) || !targets.includes(b)) continue;
    const r = perRound(rounds, (x) =>
      diffRatio(x.throughput[a]?.proxyUsPerRequest ?? undefined, x.throughput[b]?.proxyUsPerRequest ?? undefined),
    );
    cpuRatios[`${a}/${b}`] = { perRound: r, median: median(r), ofMedians: (cpu[a]?.median ?? NaN) / (cpu[b]?.median ?? NaN) };
  }

  const errors = countErrors(rounds, extraProblems);
  const g = targets.includes('glidepath');
  const check = (name: string, value: number | undefined, limit: string, ok: (v: number) => boolean): Check => {
    const v = value === undefined || !Number.isFinite(value) ? null : value;
    return { name, value: v, limit, result: v === null ? 'SKIP' : ok(v) ? 'PASS' : 'FAIL' };
  };
  const checks: Check[] = [
    check(
      'throughput vs nginx (median of per-round ratios)',
      g ? ratios['glidepath/nginx']?.median : undefined,
      `>= ${TARGETS_GOAL.vsNginx}x`,
      (v) => v >= TARGETS_GOAL.vsNginx,
    ),
    check(
      'throughput vs node-http-proxy (median of per-round ratios)',
      g ? ratios['glidepath/http-proxy']?.median : undefined,
      `>= ${TARGETS_GOAL.vsHttpProxy}x`,
      (v) => v >= TARGETS_GOAL.vsHttpProxy,
    ),
    check(
      'glidepath CPU per request (µs, median)',
      g ? cpu.glidepath?.median : undefined,
      `<= ${TARGETS_GOAL.cpuUs} µs`,
      (v) => v <= TARGETS_GOAL.cpuUs,
    ),
    check(
      'added p50 latency at 1,000 req/s (µs, median)',
      g ? latency.glidepath?.medianAddedP50Us : undefined,
      `<= ${TARGETS_GOAL.addedP50Us} µs`,
      (v) => v <= TARGETS_GOAL.addedP50Us,
    ),
    check(
      'added p99 latency at 1,000 req/s (µs, median)',
      g ? latency.glidepath?.medianAddedP99Us : undefined,
      `<= ${TARGETS_GOAL.addedP99Us} µs`,
      (v) => v <= TARGETS_GOAL.addedP99Us,
    ),
    check(
      'CPU per request, rollout in progress / single version (median of same-round ratios)',
      cpuRatios['glidepath-rollout/glidepath']?.median,
      `<= ${TARGETS_GOAL.rolloutCpuRatio}x`,
      (v) => v <= TARGETS_GOAL.rolloutCpuRatio,
    ),
    check(
      'CPU per request / undici Pool.dispatch floor (median of same-round ratios)',
      cpuRatios['glidepath/dispatch']?.median,
      `<= ${TARGETS_GOAL.dispatchCpuRatio}x`,
      (v) => v <= TARGETS_GOAL.dispatchCpuRatio,
    ),
    check(
      'CPU per request mid-rollout / undici Pool.dispatch floor (median of same-round ratios)',
      cpuRatios['glidepath-rollout/dispatch']?.median,
      `<= ${TARGETS_GOAL.dispatchCpuRatio}x`,
      (v) => v <= TARGETS_GOAL.dispatchCpuRatio,
    ),
    {
      name: 'every run: 0 socket errors, 0 non-2xx',
      value: errors.socketErrors + errors.non2xx + errors.problems.length,
      limit: '= 0',
      result: errors.problems.length === 0 ? 'PASS' : 'FAIL',
    },
  ];
  return { rps, ratios, cpuRatios, cpuUsPerRequest: cpu, latency, checks, noise: noise(rounds), errors };
}

/** A run is noisy when others used over a fifth of a core meanwhile. */
export const NOISY_PCT = 20;

function noise(rounds: readonly Round[]): Summary['noise'] {
  const runs = rounds.flatMap((r) => [
    ...Object.entries(r.throughput).map(([t, rec]) => ({ label: `r${r.round} ${t}`, other: rec.otherLoadPct })),
    ...Object.entries(r.latency).map(([t, rec]) => ({ label: `r${r.round} ${t} latency`, other: rec.otherLoadPct })),
  ]);
  const other = runs.map((x) => x.other);
  const redone = rounds.reduce(
    (n, r) =>
      n +
      Object.values(r.throughput).reduce((m, x) => m + x.discarded.length / 2, 0) +
      Object.values(r.latency).reduce((m, x) => m + x.discarded.length, 0),
    0,
  );
  return {
    otherLoadPctMedian: median(other),
    otherLoadPctMax: Math.max(0, ...other),
    stealPctMax: Math.max(0, ...rounds.flatMap((r) => Object.values(r.throughput).map((x) => x.stealPct))),
    redone,
    noisyRuns: runs.filter((x) => x.other > NOISY_PCT).map((x) => `${x.label} (${Math.round(x.other)}%)`),
  };
}

function diff(a: number | undefined, b: number | undefined): number | null {
  return a === undefined || b === undefined ? null : a - b;
}

function diffRatio(a: number | undefined, b: number | undefined): number | null {
  return a === undefined || b === undefined || b === 0 ? null : a / b;
}

function countErrors(rounds: readonly Round[], extra: readonly string[]): Summary['errors'] {
  const problems = [...extra];
  let runs = 0;
  let requests = 0;
  let socketErrors = 0;
  let non2xx = 0;
  for (const r of rounds) {
    for (const [t, rec] of Object.entries(r.throughput)) {
      const all: [string, ThroughputRun][] = [
        ['warm-up', rec.warmup],
        ['measured', rec.run],
        ...rec.discarded.map((d): [string, ThroughputRun] => ['redone', d]),
      ];
      for (const [kind, run] of all) {
        runs++;
        requests += run.requests;
        socketErrors += run.errors;
        non2xx += run.non2xx;
        if (run.errors > 0 || run.non2xx > 0 || run.requests === 0)
          problems.push(`round ${r.round} ${t} ${kind}: ${run.requests} requests, ${run.errors} socket errors, ${run.non2xx} non-2xx`);
      }
    }
    for (const [t, rec] of Object.entries(r.latency)) {
      for (const lat of [rec, ...rec.discarded]) {
        runs++;
        requests += lat.sent;
        socketErrors += lat.errors;
        non2xx += lat.non200;
        if (lat.errors > 0 || lat.non200 > 0 || lat.unanswered > 0)
          problems.push(`round ${r.round} ${t} latency: ${lat.errors} errors, ${lat.non200} non-200, ${lat.unanswered} unanswered`);
      }
    }
  }
  return { runs, requests, socketErrors, non2xx, problems };
}

// ---- text output ----

const f0 = (x: number | null | undefined): string => (x == null || !Number.isFinite(x) ? '-' : Math.round(x).toString());
const f1 = (x: number | null | undefined): string => (x == null || !Number.isFinite(x) ? '-' : x.toFixed(1));
const f2 = (x: number | null | undefined): string => (x == null || !Number.isFinite(x) ? '-' : x.toFixed(2));
const f3 = (x: number | null | undefined): string => (x == null || !Number.isFinite(x) ? '-' : x.toFixed(3));

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function formatSummary(s: Summary, targets: readonly string[], rounds: number, heading: string): string {
  const rn = Array.from({ length: rounds }, (_, i) => `r${i + 1}`);
  const out: string[] = [heading, ''];
  out.push('Throughput, req/s (closed loop)');
  out.push(
    table(
      ['target', ...rn, 'median'],
      targets.map((t) => [t, ...padRounds(s.rps[t]?.perRound, rounds, f0), f0(s.rps[t]?.median)]),
    ),
  );
  out.push('', 'Same-round throughput ratios');
  out.push(
    table(
      ['ratio', ...rn, 'median'],
      Object.entries(s.ratios).map(([k, v]) => [k, ...padRounds(v.perRound, rounds, f2), f2(v.median)]),
    ),
  );
  // Noise only ever adds CPU per request, so the best round is a fair estimate of the intrinsic cost.
  out.push('', 'CPU per request, µs (utime+stime of the process tree / requests served; min = quietest round)');
  out.push(
    table(
      ['target', ...rn, 'median', 'min', 'kernel %', 'busy % of a core', 'backend µs/req'],
      targets.map((t) => {
        const c = s.cpuUsPerRequest[t];
        return [
          t,
          ...padRounds(c?.perRound, rounds, f1),
          t === 'direct' ? '(backend only)' : f1(c?.median),
          f1(c?.min),
          f0(c?.sysPctMedian),
          f0(c?.busyPctMedian),
          f1(c?.backendMedian),
        ];
      }),
    ),
  );
  if (Object.keys(s.cpuRatios).length > 0) {
    out.push('', 'Same-round CPU-per-request ratios');
    out.push(
      table(
        ['ratio', ...rn, 'median', 'of medians'],
        Object.entries(s.cpuRatios).map(([k, v]) => [k, ...padRounds(v.perRound, rounds, f3), f3(v.median), f3(v.ofMedians)]),
      ),
    );
  }
  out.push('', 'Latency at an even 1,000 req/s (latprobe), µs');
  out.push(
    table(
      ['target', 'p50 per round', 'p99 per round', 'added p50 (median)', 'added p99 (median)'],
      targets.map((t) => {
        const l = s.latency[t];
        return [
          t,
          (l?.p50Us ?? []).map(f0).join(' / '),
          (l?.p99Us ?? []).map(f0).join(' / '),
          t === 'direct' ? '-' : f0(l?.medianAddedP50Us),
          t === 'direct' ? '-' : f0(l?.medianAddedP99Us),
        ];
      }),
    ),
  );
  out.push('', 'Checks (glidepath)');
  out.push(
    table(
      ['check', 'value', 'target', 'result'],
      s.checks.map((c) => [
        c.name,
        c.value === null ? '-' : Number.isInteger(c.value) ? String(c.value) : c.value < 10 ? f3(c.value) : f1(c.value),
        c.limit,
        c.result,
      ]),
    ),
  );
  const n = s.noise;
  out.push(
    '',
    `Other load on the VM (CPU used by processes not the bench's) during the kept runs: median ${f0(n.otherLoadPctMedian)}% of a core, max ${f0(n.otherLoadPctMax)}%; steal max ${f1(n.stealPctMax)}%; ${n.redone} noisy runs redone.` +
      (n.noisyRuns.length > 0 ? `\nStill noisy (> ${NOISY_PCT}%) after retries: ${n.noisyRuns.join(', ')}.` : ''),
  );
  const e = s.errors;
  out.push(
    '',
    e.problems.length === 0
      ? `Errors: none. ${e.runs} runs (warm-ups included), ${e.requests} requests: 0 socket errors, 0 non-2xx.`
      : `Errors: ${e.socketErrors} socket errors, ${e.non2xx} non-2xx over ${e.runs} runs:\n  ${e.problems.join('\n  ')}`,
  );
  return out.join('\n');
}

function padRounds(xs: readonly number[] | undefined, n: number, fmt: (x: number) => string): string[] {
  return Array.from({ length: n }, (_, i) => (xs?.[i] === undefined ? '-' : fmt(xs[i] as number)));
}
