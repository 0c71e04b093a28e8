// `npm run bench`: glidepath side by side with direct, nginx and node-http-proxy on one machine,
// in interleaved rounds, reporting same-round throughput ratios, CPU per request and added
// latency against the goals, optionally glidepath mid-rollout and the bare undici dispatch floor
// (method and figures: docs/benchmarks.md).

import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { firstLine, installCleanup, makeTempDir, start, stopAll, stoppingAll, type Child } from './children.ts';
import { exportRevision, glidepathStatus, startGlidepath, type GlidepathTarget } from './glidepath.ts';
import { LoadGenerator, type LatencyRun, type ThroughputRun } from './loadgen.ts';
import { NGINX, nginxInstalled, startNginx } from './nginx.ts';
import { openWindow, waitForQuiet, type Window } from './proc.ts';
import { formatProfile, summariseProfile, type ProfileSummary } from './profile.ts';
import { formatSummary, NOISY_PCT, ROLLOUT_CANARY_WEIGHT, summarise, TARGETS_GOAL, type Round, type ThroughputRecord } from './report.ts';
import { measurePaired, type PairedResult, type PairedTarget } from './paired.ts';
import { sleep } from '../testkit/wait.ts';

const HELP = `Usage: npm run bench -- [options]

  --rounds N          interleaved rounds (default 5; --quick 2)
  --duration S        measured seconds per throughput run (default 10; --quick 3)
  --warmup S          discarded warm-up run before each (default 2; --quick 1)
  --lat-duration S    seconds per latency probe at 1,000 req/s (default 8; --quick 3)
  --quick             about a minute: a sanity run, not a measurement
  --pin               proxies on CPU 1, backend and load generators on CPU 0 (taskset)
  --targets LIST      comma list from glidepath,glidepath-rollout,nginx,http-proxy,dispatch
                      (direct is always run; default glidepath,nginx,http-proxy).
                      glidepath-rollout: glidepath mid-rollout, two versions at 95/5 % with the
                      rollout analysis observing every request (checked against glidepath)
  --with-dispatch     add the minimal undici Pool.dispatch proxy, the floor glidepath sits on
  --ref REF           measure glidepath at a git commit (exported to a temp dir) instead of
                      the working tree, which others may be editing mid-run
  --paired N          with glidepath and glidepath-rollout both targets: N windows where both are
                      loaded at once at the same even rate and their CPU read over the same
                      seconds (default: the rounds; 0 turns it off). The rollout's CPU cost is
                      judged on these: the VM's noise lands on both sides of each ratio
  --paired-rate R     req/s sent to each of the two in a paired window (default 2000)
  --paired-only       only the paired windows (no throughput or latency rounds)
  --rollout-observer analysis|noop|none
                      what glidepath-rollout installs as outcome observer (default analysis); noop
                      and none take the rollout's cost apart (observer calls, the split alone)
  --profile           run glidepath (and glidepath-rollout) with --cpu-prof and summarise where
                      their time went
  --retry-noisy N     redo a run up to N times while others used > 20% of a core (default 1; --quick 0)
  --quiet-wait S      before each run, wait up to S s for others to use < 20% of a core
                      (default 15; --quick 0). Other engineers share this VM.
  --autocannon        use autocannon even when wrk is installed
  --connections N     load generator connections (default 50)

Exit status: 0 when every run was clean (0 errors, 0 non-2xx), 1 otherwise or on failure,
2 on a usage error. The PASS/FAIL checks do not change it: this is a measurement.`;

const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    'lat-duration': { type: 'string' },
    quick: { type: 'boolean', default: false },
    pin: { type: 'boolean', default: false },
    targets: { type: 'string' },
    ref: { type: 'string' },
    'with-dispatch': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    autocannon: { type: 'boolean', default: false },
    'retry-noisy': { type: 'string' },
    'quiet-wait': { type: 'string' },
    connections: { type: 'string', default: '50' },
    paired: { type: 'string' },
    'paired-rate': { type: 'string', default: '2000' },
    'paired-only': { type: 'boolean', default: false },
    'rollout-observer': { type: 'string', default: 'analysis' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opt.help) {
  console.log(HELP);
  process.exit(0);
}

const num = (v: string | undefined, quick: number, full: number): number => (v !== undefined ? Number(v) : opt.quick ? quick : full);
const config = {
  rounds: num(opt.rounds, 2, 5),
  duration: num(opt.duration, 3, 10),
  warmup: num(opt.warmup, 1, 2),
  latency: { rate: 1000, conns: 10, seconds: num(opt['lat-duration'], 3, 8), warmup: opt.quick ? 0.5 : 1 },
  connections: Number(opt.connections),
  pinned: opt.pin,
  retryNoisy: num(opt['retry-noisy'], 0, 1),
  quietWaitS: num(opt['quiet-wait'], 0, 15),
  paired: {
    windows: opt.paired !== undefined ? Number(opt.paired) : num(opt.rounds, 2, 5),
    rate: Number(opt['paired-rate']),
    seconds: num(opt.duration, 3, 10),
    conns: 32,
    warmup: 2,
  },
  pairedOnly: opt['paired-only'],
};

interface Target {
  readonly name: string;
  readonly port: number;
  /** The process tree whose CPU is charged to this target (none for direct). */
  readonly pids: () => number[];
  readonly child: Child;
}

class UsageError extends Error {}

const KNOWN_TARGETS = ['glidepath', 'glidepath-rollout', 'nginx', 'http-proxy', 'dispatch'];
const GLIDEPATHS = ['glidepath', 'glidepath-rollout'];
/** The canary pod's address: a second loopback address of the one backend process. */
const CANARY_HOST = '127.0.0.2';
const RESULTS = new URL('./results/', import.meta.url).pathname;
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const profileFile = (target: string): string => join(RESULTS, `${stamp}-${target}.cpuprofile`);
const say = (s: string): void => void process.stderr.write(`${s}\n`);
/** A latency figure; a probe with no samples (every connection failed) reports null. */
const us = (x: number | null): string => (typeof x === 'number' ? x.toFixed(0) : '-');

function scriptPort(child: Child): Promise<number> {
  return firstLine(child).then((line) => (JSON.parse(line) as { port: number }).port);
}

/** Our own .ts servers, each its own process (so its CPU is its own and it can be pinned). */
async function startScript(name: string, script: string, args: string[], cpu: number | undefined): Promise<{ child: Child; port: number }> {
  const child = start(name, process.execPath, [new URL(script, import.meta.url).pathname, ...args], { cpu });
  return { child, port: await scriptPort(child) };
}

async function main(): Promise<number> {
  installCleanup();
  if (process.platform !== 'linux') throw new Error('the bench reads CPU time from /proc: Linux only');
  if (config.pinned && cpus().length < 2) throw new Error('--pin needs at least 2 CPUs');
  const wanted = new Set(
    (opt.targets ?? 'glidepath,nginx,http-proxy')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== 'direct'),
  );
  if (opt['with-dispatch']) wanted.add('dispatch');
  const unknown = [...wanted].filter((t) => !KNOWN_TARGETS.includes(t));
  if (unknown.length > 0) throw new UsageError(`unknown target(s) ${unknown.join(', ')}; known: ${KNOWN_TARGETS.join(', ')}`);
  const bad = Object.entries({
    rounds: config.rounds,
    duration: config.duration,
    warmup: config.warmup,
    'lat-duration': config.latency.seconds,
    connections: config.connections,
  }).filter(([, v]) => !(v > 0));
  if (bad.length > 0) throw new UsageError(`--${bad.map(([k]) => k).join(', --')} must be positive numbers`);
  const pairedWanted = wanted.has('glidepath') && wanted.has('glidepath-rollout') && config.paired.windows > 0;
  if (!(Number.isInteger(config.paired.windows) && config.paired.windows >= 0) || !(config.paired.rate > 0))
    throw new UsageError('--paired must be a whole number ≥ 0 and --paired-rate a positive number');
  const observer = opt['rollout-observer'] as 'analysis' | 'noop' | 'none';
  if (!['analysis', 'noop', 'none'].includes(observer))
    throw new UsageError(`--rollout-observer ${observer}: expected analysis, noop or none`);
  if (config.pairedOnly && !pairedWanted)
    throw new UsageError('--paired-only needs --targets with both glidepath and glidepath-rollout, and --paired ≥ 1');
  const [loadCpu, proxyCpu] = config.pinned ? [0, 1] : [undefined, undefined];
  const tempDir = makeTempDir();
  mkdirSync(RESULTS, { recursive: true });
  const notes: string[] = [];

  const rolloutWanted = wanted.has('glidepath-rollout');
  const backend = await startScript('backend', './backend.ts', rolloutWanted ? [CANARY_HOST] : [], loadCpu);
  const targets: Target[] = [{ name: 'direct', port: backend.port, pids: () => [], child: backend.child }];
  const glidepaths = new Map<string, GlidepathTarget>();
  // Beside the results, not in the temp dir: that goes when the children stop, and the file is written as they stop.
  const evidenceFile = join(RESULTS, `${stamp}-rollout-evidence.json`);
  let source = 'not measured';
  if (GLIDEPATHS.some((g) => wanted.has(g))) {
    const revision = opt.ref === undefined ? undefined : exportRevision(opt.ref, tempDir);
    // Said at start: others commit to this checkout while the bench runs.
    source =
      revision === undefined
        ? `working tree at ${version('git', ['rev-parse', '--short', 'HEAD'])}${srcDirty() ? ' + uncommitted changes in src/' : ''}`
        : `commit ${revision.commit}`;
    for (const name of GLIDEPATHS.filter((g) => wanted.has(g))) {
      const rollout =
        name === 'glidepath-rollout' ? { canaryWeight: ROLLOUT_CANARY_WEIGHT, canaryHost: CANARY_HOST, evidenceFile, observer } : undefined;
      const g = await startGlidepath({
        tempDir,
        backendPort: backend.port,
        cpu: proxyCpu,
        root: revision?.root,
        profileFile: opt.profile ? profileFile(name) : undefined,
        rollout,
      });
      glidepaths.set(name, g);
      const pid = g.child.pid;
      targets.push({ name, port: g.port, pids: () => [pid], child: g.child });
    }
  }
  if (wanted.has('nginx')) {
    if (nginxInstalled()) {
      const n = await startNginx(tempDir, backend.port, proxyCpu);
      targets.push({ name: 'nginx', port: n.port, pids: n.pids, child: n.child });
    } else {
      notes.push(`nginx not installed (${NGINX}): its checks are SKIP`);
    }
  }
  if (wanted.has('http-proxy')) {
    const h = await startScript('http-proxy', './http-proxy.ts', [String(backend.port)], proxyCpu);
    targets.push({ name: 'http-proxy', port: h.port, pids: () => [h.child.pid], child: h.child });
  }
  if (wanted.has('dispatch')) {
    const d = await startScript('dispatch', './dispatch-proxy.ts', [String(backend.port)], proxyCpu);
    targets.push({ name: 'dispatch', port: d.port, pids: () => [d.child.pid], child: d.child });
  }
  const names = targets.map((t) => t.name);
  const allPids = (): number[] => targets.flatMap((t) => (t.name === 'direct' ? [t.child.pid] : t.pids()));

  // Every target must answer exactly what the backend answers before anything is timed.
  for (const t of targets) {
    const hint = GLIDEPATHS.includes(t.name) && opt.ref === undefined ? ' (working tree mid-change? try --ref HEAD)' : '';
    const answer = await fetch(`http://127.0.0.1:${t.port}/`).then(
      async (res) => ({ status: res.status, body: await res.text() }),
      (err: unknown) => ({ status: 0, body: String((err as Error).cause ?? err) }),
    );
    if (answer.status !== 200 || !answer.body.includes('"backend"')) {
      await sleep(200); // let a crashing child finish writing why
      throw new Error(
        `${t.name} answered ${answer.status || 'nothing'}${hint}: ${answer.body.slice(0, 300)}\n${t.name} output:\n${t.child.output()}`,
      );
    }
  }

  const load = new LoadGenerator({ tempDir, cpu: loadCpu, connections: config.connections, forceAutocannon: opt.autocannon });
  const mode = config.pinned
    ? 'pinned (proxies on CPU 1; backend and load generators on CPU 0)'
    : `unpinned (everything shares ${cpus().length} CPUs)`;
  const heading = `glidepath bench ${stamp}: glidepath from ${source}; ${mode}; ${load.description}; ${config.rounds} rounds x ${config.duration} s (+${config.warmup} s warm-up); latency ${config.latency.seconds} s at ${config.latency.rate} req/s over ${config.latency.conns} connections${rolloutWanted ? `; glidepath-rollout: v1/v2 at ${10_000 - ROLLOUT_CANARY_WEIGHT}/${ROLLOUT_CANARY_WEIGHT} bp with ${observer === 'analysis' ? 'the rollout analysis as outcome observer' : observer === 'noop' ? 'a do-nothing outcome observer (diagnostic)' : 'no outcome observer (diagnostic)'}` : ''}${opt.profile ? '; glidepath PROFILED (--cpu-prof adds overhead)' : ''}`;
  say(heading);

  const rounds: Round[] = [];
  const backendPids = [backend.child.pid];
  // Others share this VM: wait a little for a quiet moment before each run, and redo a run
  // during which others used more than NOISY_PCT of a core (the quietest one is kept).
  const quietly = async <T>(measure: () => Promise<T>): Promise<T> => {
    if (config.quietWaitS > 0) await waitForQuiet(allPids(), NOISY_PCT, config.quietWaitS * 1000);
    return measure();
  };
  const quietest = async <T extends { window: Window }>(measure: () => Promise<T>, discarded: unknown[]): Promise<T> => {
    let best = await quietly(measure);
    for (let i = 0; i < config.retryNoisy && best.window.otherLoadPct > NOISY_PCT; i++) {
      const again = await quietly(measure);
      discarded.push(again.window.otherLoadPct < best.window.otherLoadPct ? best : again);
      if (again.window.otherLoadPct < best.window.otherLoadPct) best = again;
    }
    return best;
  };
  for (let r = 0; r < (config.pairedOnly ? 0 : config.rounds); r++) {
    // Rotating the order each round spreads the VM's drift over all targets.
    const order = targets.map((_, i) => targets[(i + r) % targets.length] as Target);
    const round: Round = { round: r + 1, order: order.map((t) => t.name), throughput: {}, latency: {} };
    for (const t of order) {
      const url = `http://127.0.0.1:${t.port}/`;
      const discarded: { warmup: ThroughputRun; run: ThroughputRun; window: Window }[] = [];
      const {
        warmup,
        run,
        window: w,
      } = await quietest(async () => {
        const warmup = await load.throughput(url, config.warmup);
        const close = openWindow([t.pids(), backendPids], allPids());
        const run = await load.throughput(url, config.duration);
        return { warmup, run, window: close() };
      }, discarded);
      const [proxyUs, backendUs] = w.cpuUs as [number, number];
      const direct = t.name === 'direct';
      const rec: ThroughputRecord = {
        run,
        warmup,
        discarded: discarded.flatMap((d) => [
          { ...d.warmup, otherLoadPct: NaN },
          { ...d.run, otherLoadPct: d.window.otherLoadPct },
        ]),
        proxyCpuUs: proxyUs,
        backendCpuUs: backendUs,
        proxyUsPerRequest: direct ? null : proxyUs / run.requests,
        backendUsPerRequest: backendUs / run.requests,
        proxyBusyPct: direct ? null : (100 * proxyUs) / w.wallUs,
        proxySysPct: direct ? null : (100 * (w.sysUs[0] as number)) / proxyUs,
        stealPct: w.stealPct,
        otherLoadPct: w.otherLoadPct,
      };
      round.throughput[t.name] = rec;
      say(
        `  r${r + 1} ${t.name.padEnd(17)} ${run.rps.toFixed(0).padStart(6)} req/s  p50 ${run.p50Ms.toFixed(2)} ms  p99 ${run.p99Ms.toFixed(2)} ms  cpu ${direct ? '   -' : (rec.proxyUsPerRequest as number).toFixed(1)} µs/req${direct ? '' : ` (sys ${(rec.proxySysPct as number).toFixed(0)}%)`}  backend ${rec.backendUsPerRequest.toFixed(1)} µs/req  errors ${run.errors}/${run.non2xx}  other load ${w.otherLoadPct.toFixed(0)}%${discarded.length ? ` (${discarded.length} noisy redone)` : ''}`,
      );
    }
    for (const t of order) {
      const discarded: { lat: LatencyRun; window: Window }[] = [];
      const { lat, window: w } = await quietest(async () => {
        const close = openWindow([], allPids());
        const lat = await load.latency(t.port, config.latency);
        return { lat, window: close() };
      }, discarded);
      round.latency[t.name] = {
        ...lat,
        otherLoadPct: w.otherLoadPct,
        discarded: discarded.map((d) => ({ ...d.lat, otherLoadPct: d.window.otherLoadPct })),
      };
      say(
        `  r${r + 1} ${t.name.padEnd(17)} latency p50 ${us(lat.p50Us)} µs  p99 ${us(lat.p99Us)} µs  (${lat.samples} samples, skipped ${lat.skipped}, errors ${lat.errors}/${lat.non200})  other load ${w.otherLoadPct.toFixed(0)}%${discarded.length ? ` (${discarded.length} noisy redone)` : ''}`,
      );
    }
    rounds.push(round);
  }

  let paired: PairedResult | undefined;
  if (pairedWanted) {
    const pairedTarget = (name: string): PairedTarget => {
      const t = targets.find((x) => x.name === name) as Target;
      const adminPort = (glidepaths.get(name) as GlidepathTarget).adminPort;
      return { ...t, answered: () => glidepathStatus(adminPort).then(answeredRequests) };
    };
    const [a, b] = [pairedTarget('glidepath'), pairedTarget('glidepath-rollout')];
    say(
      `  paired: ${a.name} and ${b.name} loaded at once, ${config.paired.rate} req/s each over ${config.paired.conns} connections, CPU read over the same ${config.paired.seconds} s`,
    );
    if (config.quietWaitS > 0) await waitForQuiet(allPids(), NOISY_PCT, config.quietWaitS * 1000);
    paired = await measurePaired(load, a, b, config.paired, allPids, say);
  }

  // glidepath's own counters must agree with the load generators: all 2xx, nothing refused.
  const glidepathCounters: Record<string, unknown> = {};
  const counterProblems: string[] = [];
  for (const [name, g] of glidepaths) {
    glidepathCounters[name] = await glidepathStatus(g.adminPort);
    counterProblems.push(...glidepathProblems(glidepathCounters[name]).map((p) => `${name} ${p}`));
  }

  // Stopping glidepath with SIGTERM is also what makes it write its profile (and glidepath-rollout its evidence).
  await stopAll();
  const profiles: Record<string, ProfileSummary> = {};
  if (opt.profile) {
    for (const name of glidepaths.keys()) {
      if (existsSync(profileFile(name))) profiles[name] = summariseProfile(profileFile(name));
      else notes.push(`no profile was written to ${profileFile(name)}`);
    }
  }
  let rolloutEvidence: RolloutEvidence | undefined;
  if (glidepaths.has('glidepath-rollout') && observer === 'analysis') {
    const checked = checkRolloutEvidence(evidenceFile, glidepathCounters['glidepath-rollout']);
    rolloutEvidence = checked.evidence;
    notes.push(checked.line);
    counterProblems.push(...checked.problems);
  }

  const summary = summarise(rounds, names, counterProblems);
  if (!config.pairedOnly) console.log(`\n${formatSummary(summary, names, config.rounds, heading)}`);
  if (paired !== undefined) {
    const ok = paired.medianRatio <= TARGETS_GOAL.rolloutCpuRatio;
    const errors = paired.windows.reduce((n, w) => n + w.errors, 0);
    if (errors > 0) counterProblems.push(`paired windows: ${errors} errors or non-200 answers`);
    console.log(
      `\nCPU per request, rollout in progress / single version, ${paired.windows.length} paired windows: ratios ${paired.windows.map((w) => w.ratio.toFixed(3)).join(', ')}; median ${paired.medianRatio.toFixed(3)} (${paired.medianUsPerRequest.map((x) => x.toFixed(1)).join(' vs ')} µs/req at ${config.paired.rate} req/s each): ${ok ? 'PASS' : 'FAIL'} (<= ${TARGETS_GOAL.rolloutCpuRatio}x)`,
    );
  }
  for (const n of [...notes, ...counterProblems]) console.log(`Note: ${n}`);
  for (const p of Object.values(profiles)) console.log(`\n${formatProfile(p)}`);

  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, `${stamp}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ meta: { ...meta(load.tool), glidepathSource: source }, config, targets: names, summary, rounds, glidepathCounters, rolloutEvidence, paired, profiles, notes }, null, 2)}\n`,
  );
  console.log(`\nResults: ${file}`);
  return summary.errors.problems.length === 0 ? 0 : 1;
}

interface RolloutEvidence {
  readonly ticks: number;
  readonly evidence: {
    canaryAttempts: { requests: number; failures: number };
    stableAttempts: { requests: number; failures: number };
    abort: unknown;
  };
  readonly callbackError: string | null;
}

/**
 * The analysis must have seen every request glidepath-rollout served (one first attempt each, no
 * failures, no abort) and the canary its 5 %: else the figure is not a rollout's cost.
 */
function checkRolloutEvidence(file: string, status: unknown): { evidence: RolloutEvidence | undefined; line: string; problems: string[] } {
  if (!existsSync(file))
    return {
      evidence: undefined,
      line: 'glidepath-rollout wrote no evidence',
      problems: [`glidepath-rollout: no evidence file ${file} (did it stop cleanly?)`],
    };
  const e = JSON.parse(readFileSync(file, 'utf8')) as RolloutEvidence;
  const { canaryAttempts: c, stableAttempts: s } = e.evidence;
  const seen = c.requests + s.requests;
  const versions = (status as { versions: { name: string; clientAborts: number; statusClasses: Record<string, number> }[] }).versions;
  // Requests answered (/status `requests` also counts client aborts). A client that left (wrk
  // stopping mid-request) is excluded from the evidence unless its first attempt ended first.
  const served = versions.reduce((n, v) => n + Object.values(v.statusClasses).reduce((a, b) => a + b, 0), 0);
  const aborts = versions.reduce((n, v) => n + v.clientAborts, 0);
  const share = seen === 0 ? NaN : c.requests / seen;
  const expected = ROLLOUT_CANARY_WEIGHT / 10_000;
  const problems: string[] = [];
  if (seen < served || seen > served + aborts)
    problems.push(
      `glidepath-rollout: the analysis saw ${seen} first attempts, /status counts ${served} answered requests and ${aborts} client aborts`,
    );
  // Four binomial standard deviations: a wrong split, not chance, fails this.
  if (!(Math.abs(share - expected) <= 4 * Math.sqrt((expected * (1 - expected)) / seen)))
    problems.push(
      `glidepath-rollout: canary share of first attempts ${(100 * share).toFixed(2)} %, expected ${(100 * expected).toFixed(1)} %`,
    );
  if (c.failures + s.failures > 0 || e.evidence.abort !== null || e.callbackError !== null)
    problems.push(
      `glidepath-rollout: failures ${c.failures}/${s.failures}, abort ${JSON.stringify(e.evidence.abort)}, callback error ${e.callbackError}`,
    );
  const line = `glidepath-rollout's analysis observed ${seen} first attempts (${served} requests answered): canary ${c.requests} (${(100 * share).toFixed(2)} %), stable ${s.requests}, ${c.failures + s.failures} failures, abort ${JSON.stringify(e.evidence.abort)}; ${aborts} client aborts; evidence read ${e.ticks} times`;
  return { evidence: e, line, problems };
}

/** Requests glidepath has answered since it started: every version's count plus the unrouted. */
function answeredRequests(status: unknown): number {
  const s = status as { versions: { requests: number }[]; unrouted: { requests: number } };
  return s.versions.reduce((n, v) => n + v.requests, s.unrouted.requests);
}

function glidepathProblems(status: unknown): string[] {
  const s = status as {
    versions: { name: string; statusClasses: Record<string, number>; failures: number }[];
    unrouted: { requests: number };
    rejected: Record<string, number>;
  };
  const out: string[] = [];
  for (const v of s.versions) {
    const bad = Object.entries(v.statusClasses).filter(([k, n]) => k !== '2xx' && n > 0);
    if (bad.length > 0 || v.failures > 0)
      out.push(`glidepath /status: version ${v.name} has ${JSON.stringify(v.statusClasses)}, ${v.failures} failures`);
  }
  if (s.unrouted.requests > 0) out.push(`glidepath /status: ${s.unrouted.requests} unrouted requests`);
  const rejected = Object.entries(s.rejected).filter(([, n]) => n > 0);
  if (rejected.length > 0) out.push(`glidepath /status: rejections ${JSON.stringify(Object.fromEntries(rejected))}`);
  return out;
}

/** First line of whatever a tool prints about itself (wrk -v exits 1, nginx -v writes to stderr). */
function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? '';
}

function srcDirty(): boolean {
  return version('git', ['status', '--porcelain', '--', 'src']) !== '';
}

function meta(tool: string) {
  return {
    timestamp: stamp,
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    mode: config.pinned ? 'pinned' : 'unpinned',
    loadGenerator: tool,
    wrk: tool === 'wrk' ? version('/usr/bin/wrk', ['-v']) : undefined,
    nginx: nginxInstalled() ? version(NGINX, ['-v']) : undefined,
  };
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    // After Ctrl-C the load generator we just killed "fails"; the signal handler exits for us.
    if (stoppingAll()) return;
    if (err instanceof UsageError) say(`bench: ${err.message} (see --help)`);
    else say(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await stopAll(2_000);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
