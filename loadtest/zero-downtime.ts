// `npm run loadtest -- [scenario] [--seconds N] [--connections N]`: the long versions of the
// zero-downtime tests (minutes, higher rates), every request in a client ledger reconciled with
// the pods' ledgers, figures printed and written to loadtest/reports/.

import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startPod, type Pod } from '../testkit/pods.ts';
import { startProxy, type EndpointsDoc, type InProcessProxy } from '../testkit/proxy.ts';
import { runLoad, reconcile, type Ledger, type LoadOptions } from '../testkit/ledger.ts';
import { sleep } from '../testkit/wait.ts';
import type { StatusDocument } from '../src/admin/status.ts';

/** A scenario: a fleet of pods behind glidepath, traffic, and a fault repeated on a period. */
interface Scenario {
  readonly summary: string;
  readonly pods: number;
  /** Demo-app environment of every pod (including replacements). */
  readonly env?: Record<string, string>;
  /** glidepath settings by dotted path. */
  readonly flags?: Record<string, unknown>;
  /** Traffic shape, over the defaults of `measure`. */
  readonly load?: Partial<LoadOptions>;
  /** The fault, run every `everyMs` while the load lasts; made per run (it may keep state). */
  readonly everyMs?: number;
  readonly fault?: () => (fleet: Fleet, env: Record<string, string>) => Promise<void>;
  /** Called once the load ended, before the report (put a fault's state back). */
  readonly settle?: (fleet: Fleet) => void;
}

interface Report {
  scenario: string;
  seconds: number;
  sent: number;
  ok: number;
  failedGet: number;
  failedPost: number;
  lost: number;
  failureRatePct: number;
  /** Pod-side: POSTs received by a pod that then died before answering (the honest floor for POST failures). */
  postsCutByKill: number;
  reconciliation: { okWithoutPod: number; podWithoutClient: number; statusMismatch: number };
  retries: number;
  failovers: number;
  ejections: number;
  events: number;
  requestsPerSecond: number;
}

/** A pool of pods behind one proxy whose endpoints file follows the pool. */
class Fleet {
  readonly pods: Pod[] = [];
  readonly gone: Pod[] = [];
  /** Pods taken out of the file but still running (flaps). */
  readonly spare: Pod[] = [];
  readonly terminating = new Set<Pod>();
  proxy!: InProcessProxy;
  events = 0;

  doc(): EndpointsDoc {
    return {
      versions: [{ name: 'v1', revision: 1 }],
      endpoints: this.pods.map((p) => ({ address: p.address, version: 'v1', ...(this.terminating.has(p) ? { terminating: true } : {}) })),
    };
  }

  async start(count: number, env: Record<string, string> = {}, flags: Record<string, unknown> = {}): Promise<void> {
    for (let i = 0; i < count; i++) this.pods.push(await startPod(env));
    this.proxy = await startProxy(this.doc(), flags);
  }

  publish(): void {
    this.proxy.writeEndpoints(this.doc());
    this.events++;
  }

  async add(env: Record<string, string> = {}): Promise<Pod> {
    const pod = await startPod(env);
    this.pods.push(pod);
    this.publish();
    return pod;
  }

  /** Drops a pod from the file (what an EndpointSlice does after termination) and forgets it. */
  remove(pod: Pod): void {
    this.pods.splice(this.pods.indexOf(pod), 1);
    this.terminating.delete(pod);
    this.gone.push(pod);
    this.publish();
  }

  ledgers() {
    return [...this.pods, ...this.spare, ...this.gone].map((p) => p.ledger());
  }

  async stop(): Promise<void> {
    await this.proxy.stop();
    await Promise.all([...this.pods, ...this.spare, ...this.gone].map((p) => p.stop()));
  }
}

/** Runs one scenario: the fleet, the load, the fault on its period, then the report. */
async function runScenario(name: string, scenario: Scenario, seconds: number, connections: number): Promise<Report> {
  const env = scenario.env ?? {};
  const fleet = new Fleet();
  await fleet.start(scenario.pods, env, scenario.flags);
  try {
    const started = Date.now();
    let done = false;
    // The fault stops a second before the load so its last effect is measured too.
    const stop = (): boolean => done || Date.now() - started > seconds * 1000 - 1000;
    const load = runLoad({
      url: fleet.proxy.url,
      durationMs: seconds * 1000,
      connections,
      postRatio: 0.2,
      bodyBytes: 1024,
      path: '/slow/2',
      requestTimeoutMs: 30_000,
      ...scenario.load,
    });
    const fault = scenario.fault?.();
    const faults = (async () => {
      while (fault !== undefined && scenario.everyMs !== undefined && !stop()) {
        await sleep(scenario.everyMs);
        if (!stop()) await fault(fleet, env);
      }
    })();
    const ledger = await load;
    done = true;
    await faults;
    scenario.settle?.(fleet);
    await sleep(300);
    return await report(name, seconds, ledger, fleet);
  } finally {
    await fleet.stop();
  }
}

async function report(name: string, seconds: number, ledger: Ledger, fleet: Fleet): Promise<Report> {
  const status = (await (await fetch(`${fleet.proxy.adminUrl}/status`)).json()) as StatusDocument;
  const sum = (k: 'retries' | 'failovers' | 'ejections'): number => status.versions.reduce((s, v) => s + v[k], 0);
  const ledgers = fleet.ledgers();
  const r = reconcile(ledger, ledgers);
  // POSTs a killed pod had received but never answered: they cannot succeed without a duplicate.
  const cut = fleet.gone.flatMap((p) => {
    const entries = p.ledger();
    const done = new Set(entries.filter((e) => e.ev !== 'recv').map((e) => e.id));
    return entries.filter((e) => e.ev === 'recv' && e.method === 'POST' && !done.has(e.id));
  }).length;
  const failedGet = ledger.failures('GET').length;
  const failedPost = ledger.failures('POST').length;
  return {
    scenario: name,
    seconds,
    sent: ledger.sent,
    ok: ledger.count('ok'),
    failedGet,
    failedPost,
    lost: ledger.count('lost'),
    failureRatePct: Number((((failedGet + failedPost) / Math.max(1, ledger.sent)) * 100).toFixed(4)),
    postsCutByKill: cut,
    reconciliation: {
      okWithoutPod: r.okWithoutPod.length,
      podWithoutClient: r.podWithoutClient.length,
      statusMismatch: r.statusMismatch.length,
    },
    retries: sum('retries'),
    failovers: sum('failovers'),
    ejections: sum('ejections'),
    events: fleet.events,
    requestsPerSecond: Math.round(ledger.sent / seconds),
  };
}

const scenarios: Record<string, Scenario> = {
  'rolling-replace': {
    summary:
      'planned removal, like a rolling update: every 3 s a new pod joins, an old one is marked terminating, then gets SIGTERM and leaves',
    pods: 3,
    everyMs: 3000,
    fault: () => async (fleet, env) => {
      await fleet.add(env);
      const old = fleet.pods[0] as Pod;
      fleet.terminating.add(old);
      fleet.publish();
      await sleep(500);
      old.kill('SIGTERM');
      await old.exited;
      fleet.remove(old);
    },
  },
  'kill-under-load': {
    summary:
      'a pod gets SIGKILL every 5 s while still listed as ready; a replacement joins 1 s later and the dead one leaves the file 2 s after its death',
    pods: 4,
    everyMs: 5000,
    fault: () => async (fleet, env) => {
      const victim = fleet.pods[Math.floor(Math.random() * fleet.pods.length)] as Pod;
      victim.kill('SIGKILL');
      fleet.events++;
      await sleep(1000);
      await fleet.add(env);
      await sleep(1000);
      fleet.remove(victim);
    },
  },
  'graceful-exit-unannounced': {
    summary:
      'a pod drains and exits on SIGTERM before glidepath learns it is gone (the endpoint lag of a real cluster); the file catches up 1 s later',
    pods: 4,
    env: { ON_SIGTERM: 'drain', DRAIN_MS: '0' },
    everyMs: 4000,
    fault: () => async (fleet, env) => {
      const victim = fleet.pods[0] as Pod;
      victim.kill('SIGTERM');
      fleet.events++;
      await fleet.add(env);
      await sleep(1000);
      fleet.remove(victim);
    },
  },
  'keepalive-race': {
    summary:
      "pods close idle keep-alive sockets after 100 ms with no hint; glidepath's upstream idle timeout is set above that, so only the replay of reset-before-response saves the requests",
    pods: 2,
    env: { IDLE_CLOSE_MS: '100' },
    flags: { 'upstream.idleTimeout': '1s' },
    load: { postRatio: 0.5, path: '/', gapMs: () => 95 + Math.random() * 10 },
  },
  flaps: {
    summary: 'endpoints added and removed every 500 ms (the same addresses come back), pods stay up',
    pods: 4,
    everyMs: 500,
    fault: () => {
      let i = 0;
      return async (fleet) => {
        if (i++ % 2 === 0 && fleet.pods.length > 1) fleet.spare.push(fleet.pods.splice(1 + (i % (fleet.pods.length - 1)), 1)[0] as Pod);
        else if (fleet.spare.length > 0) fleet.pods.push(fleet.spare.shift() as Pod);
        fleet.publish();
      };
    },
    settle: (fleet) => fleet.pods.push(...fleet.spare.splice(0)),
  },
};

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { seconds: { type: 'string', default: '60' }, connections: { type: 'string', default: '16' } },
  });
  const names = positionals.length > 0 ? positionals : Object.keys(scenarios);
  const unknown = names.filter((n) => !(n in scenarios));
  if (unknown.length > 0) {
    console.error(`unknown scenario ${unknown.join(', ')}; choose from ${Object.keys(scenarios).join(', ')}`);
    process.exit(2);
  }
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  const reports: Report[] = [];
  for (const name of names) {
    const scenario = scenarios[name] as Scenario;
    console.log(`\n== ${name} (${seconds} s, ${connections} connections): ${scenario.summary}`);
    const r = await runScenario(name, scenario, seconds, connections);
    reports.push(r);
    console.log(JSON.stringify(r));
  }
  console.log('\nscenario                     sent      ok  fail GET  fail POST  cut POSTs  lost  fail %   retries  failovers  ejections');
  for (const r of reports) {
    console.log(
      `${r.scenario.padEnd(26)} ${String(r.sent).padStart(6)}  ${String(r.ok).padStart(6)}  ${String(r.failedGet).padStart(8)}  ${String(r.failedPost).padStart(9)}  ${String(r.postsCutByKill).padStart(9)}  ${String(r.lost).padStart(4)}  ${r.failureRatePct.toFixed(4).padStart(6)}  ${String(r.retries).padStart(8)}  ${String(r.failovers).padStart(9)}  ${String(r.ejections).padStart(9)}`,
    );
  }
  mkdirSync(new URL('./reports/', import.meta.url), { recursive: true });
  const file = new URL(`./reports/zero-downtime-${new Date().toISOString().replace(/[:.]/g, '-')}.json`, import.meta.url);
  writeFileSync(file, `${JSON.stringify({ node: process.version, at: new Date().toISOString(), reports }, null, 2)}\n`);
  console.log(`\nwritten ${file.pathname}`);
  const budgetBroken = reports.some((r) => r.failureRatePct >= 0.1 || r.lost > 0 || r.reconciliation.okWithoutPod > 0);
  process.exit(budgetBroken ? 1 : 0);
}

await main();
