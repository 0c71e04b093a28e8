// Shared pieces of the reliability scenarios (issue 3, "Tests"): pods and proxies that tear
// themselves down, /status reads, and ledger summaries that reconcile the client side with what
// the pods recorded. Built on testkit/; nothing here changes it.

import type { Test } from 'tap';
import { readFileSync } from 'node:fs';
import type { LedgerEntry } from '../../src/demo/app.ts';
import { Pool } from 'undici';
import { startPod, type Pod, type PodEnv } from '../../testkit/pods.ts';
import { startProxy, type EndpointsDoc, type InProcessProxy, type TestProxy } from '../../testkit/proxy.ts';
import { reconcile, recordRequest, Ledger as LedgerClass, type ClientRecord, type Ledger } from '../../testkit/ledger.ts';
import { sleep, waitFor } from '../../testkit/wait.ts';
import type { StatusDocument, StatusVersion } from '../../src/admin/status.ts';

export type { Pod, PodEnv, EndpointsDoc, InProcessProxy, Ledger, ClientRecord };

// Pods inherit our stderr: one left behind by a crashed test process would hold the pipe of
// whoever ran us open forever. Whatever happens, they die with this process.
const live = new Set<Pod>();
process.on('exit', () => {
  for (const p of live) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
});

/** Starts pods that are SIGKILLed at the end of the test (or of this process) whatever happens. */
export async function pods(t: Test, count: number, env: PodEnv = {}): Promise<Pod[]> {
  const started = await Promise.all(Array.from({ length: count }, () => startPod(env)));
  for (const p of started) {
    live.add(p);
    t.teardown(async () => {
      await p.stop();
      live.delete(p);
    });
  }
  return started;
}

export async function pod(t: Test, env: PodEnv = {}): Promise<Pod> {
  return (await pods(t, 1, env))[0] as Pod;
}

/** An in-process glidepath stopped (with a short grace) at the end of the test. */
export async function proxy(t: Test, doc: EndpointsDoc, flags: Record<string, unknown> = {}): Promise<InProcessProxy> {
  const p = await startProxy(doc, { 'log.level': 'silent', ...flags });
  t.teardown(() => p.stop());
  return p;
}

/** One version with every pod in it, all ready. */
export function oneVersion(list: readonly Pod[], extra: Partial<EndpointsDoc['endpoints'][number]> = {}): EndpointsDoc {
  return {
    versions: [{ name: 'v1', revision: 1 }],
    endpoints: list.map((p) => ({ address: p.address, version: 'v1', name: p.name, ...extra })),
  };
}

// ---- /status ----

export type { StatusCounters, StatusEndpoint, StatusVersion } from '../../src/admin/status.ts';
/** The /status document, typed where glidepath builds it. */
export type StatusDoc = StatusDocument;

/** GET /status on the admin listener (what an operator sees). */
export async function status(p: TestProxy): Promise<StatusDoc> {
  const res = await fetch(`${p.adminUrl}/status`, { signal: AbortSignal.timeout(3_000) });
  if (res.status !== 200) throw new Error(`/status answered ${res.status}`);
  return (await res.json()) as StatusDoc;
}

export function versionOf(doc: StatusDoc, name: string): StatusVersion {
  const v = doc.versions.find((x) => x.name === name);
  if (v === undefined) throw new Error(`/status has no version ${name}: ${JSON.stringify(doc.versions.map((x) => x.name))}`);
  return v;
}

/** State of one address in /status, or 'absent'. */
export function endpointState(doc: StatusDoc, address: string): string {
  for (const v of doc.versions) for (const e of v.endpoints) if (e.address === address) return e.state;
  return 'absent';
}

/** Waits until the in-process data plane shows `address` in `state` ('absent' once removed). */
export async function waitForState(p: InProcessProxy, address: string, state: string, timeoutMs = 3_000): Promise<void> {
  await waitFor(
    `${address} to become ${state}`,
    () => {
      for (const v of p.app.dataPlane.versionStatus()) for (const e of v.endpoints) if (e.address === address) return e.state === state;
      return state === 'absent';
    },
    timeoutMs,
    10,
  );
}

/** Waits until the data plane applied a newer discovery snapshot than `generation`. */
export async function waitForGeneration(p: InProcessProxy, generation: number, timeoutMs = 3_000): Promise<void> {
  await waitFor(`snapshot generation > ${generation}`, () => p.app.dataPlane.snapshot.generation > generation, timeoutMs, 10);
}

// ---- ledgers ----

export interface PodFigures {
  recv: number;
  done: number;
  aborted: number;
  /** Received and neither done nor aborted: in flight when the process died. */
  open: string[];
}

export function podFigures(entries: readonly LedgerEntry[], filter: (e: LedgerEntry) => boolean = () => true): PodFigures {
  const recv = new Map<string, LedgerEntry>();
  let done = 0;
  let aborted = 0;
  const closed = new Set<string>();
  for (const e of entries) {
    if (!filter(e)) continue;
    const key = `${e.id} ${e.method} ${e.path}`;
    if (e.ev === 'recv') recv.set(key, e);
    else if (e.ev !== 'sent') {
      closed.add(key);
      if (e.ev === 'done') done++;
      else aborted++;
    }
  }
  const open = [...recv.keys()].filter((k) => !closed.has(k)).map((k) => k.split(' ')[0] as string);
  return { recv: recv.size, done, aborted, open };
}

/** Client requests that a pod received more than once (recv lines across all pods), by method. */
export function duplicates(podLedgers: readonly LedgerEntry[][], method: string): string[] {
  const seen = new Map<string, number>();
  for (const entries of podLedgers)
    for (const e of entries) if (e.ev === 'recv' && e.method === method && e.id.startsWith('r')) seen.set(e.id, (seen.get(e.id) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([id]) => id);
}

export interface Figures {
  client: Record<string, number>;
  byMethod: Record<string, Record<string, number>>;
  /** Requests the pods received more than once in total (replays, as the pods saw them). */
  retriedAtPods: number;
  pods: Record<string, { recv: number; done: number; aborted: number; open: number }>;
  okWithoutPod: number;
  podWithoutClient: number;
  statusMismatch: number;
  failures: { id: string; method: string; outcome: string; status: number; code: string }[];
}

/**
 * Waits until the pods' ledgers stop growing (at most 1 s). A pod writes 'done' on the response's
 * 'finish' event, which can come after the client already read the whole response: reading the
 * ledgers the moment the load ends could miss the last lines.
 */
export async function settled(podList: readonly Pod[]): Promise<void> {
  const size = (): number => podList.reduce((n, p) => n + p.ledger().length, 0);
  const start = performance.now();
  let last = size();
  while (performance.now() - start < 1_000) {
    await sleep(40);
    const now = size();
    if (now === last) return;
    last = now;
  }
}

/** Client ledger plus pod ledgers, reconciled: what every assertion message carries. */
export async function figures(ledger: Ledger, podList: readonly Pod[]): Promise<Figures> {
  await settled(podList);
  const podLedgers = podList.map((p) => p.ledger());
  const rec = reconcile(ledger, podLedgers);
  const byMethod: Record<string, Record<string, number>> = {};
  for (const r of ledger.records.values()) {
    const m = (byMethod[r.method] ??= { sent: 0 });
    m.sent = (m.sent ?? 0) + 1;
    m[r.outcome] = (m[r.outcome] ?? 0) + 1;
  }
  const pods: Figures['pods'] = {};
  podList.forEach((p, i) => {
    const f = podFigures(podLedgers[i] as LedgerEntry[], (e) => e.id.startsWith('r'));
    pods[p.name] = { recv: f.recv, done: f.done, aborted: f.aborted, open: f.open.length };
  });
  let retriedAtPods = 0;
  for (const n of rec.podAttempts.values()) if (n > 1) retriedAtPods++;
  return {
    client: ledger.summary(),
    byMethod,
    retriedAtPods,
    pods,
    okWithoutPod: rec.okWithoutPod.length,
    podWithoutClient: rec.podWithoutClient.length,
    statusMismatch: rec.statusMismatch.length,
    failures: ledger
      .failures()
      .slice(0, 20)
      .map((r) => ({ id: r.id, method: r.method, outcome: r.outcome, status: r.status, code: r.code })),
  };
}

/** The reconciliation every scenario asserts: what the client saw matches what the pods did. */
export function assertReconciled(t: Test, f: Figures): void {
  t.equal(f.okWithoutPod, 0, 'every client success was finished by a pod', { figures: f });
  t.equal(f.statusMismatch, 0, 'every client success carries the status a pod finished it with', { figures: f });
  t.equal(f.podWithoutClient, 0, 'pods saw no request the client never sent', { figures: f });
  t.equal(f.client.lost ?? 0, 0, 'no request was lost (every one completed or failed within its timeout)', { figures: f });
}

export function failed(ledger: Ledger, method?: string): number {
  return ledger.failures(method).length;
}

export function latencies(records: Iterable<ClientRecord>): number[] {
  return [...records].map((r) => r.endedAt - r.startedAt).sort((a, b) => a - b);
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** One line per scenario, on stderr (tap shows it with the results). */
export function log(name: string, data: unknown): void {
  process.stderr.write(`# [reliability] ${name}: ${JSON.stringify(data)}\n`);
}

/**
 * Lockstep traffic for the keep-alive race: each round sends `connections` requests at once and
 * waits for all of them, then pauses `gapMs()`; so each upstream socket glidepath pools is reused
 * once per round, after an idle time of about the gap (runLoad's independent workers leave most
 * requests on the first free socket, whose idle time is short). Records into a client Ledger.
 */
export async function lockstepLoad(
  options: {
    url: string;
    connections: number;
    rounds: number;
    gapMs: () => number;
    postRatio: number;
    bodyBytes: number;
    requestTimeoutMs?: number;
  },
  ledger = new LedgerClass(),
): Promise<Ledger> {
  const pool = new Pool(options.url, { connections: options.connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const body = Buffer.alloc(options.bodyBytes, 0x62);
  let index = 0;
  const one = async (): Promise<void> => {
    const i = index++;
    // Every round carries its share of POSTs.
    const post = i % 10 < options.postRatio * 10;
    const record = ledger.open(`r${process.pid}-ls${lockstepRun}-${i}`, post ? 'POST' : 'GET');
    await recordRequest(pool, record, { path: '/', body: post ? body : null, timeoutMs: options.requestTimeoutMs ?? 5_000 });
  };
  lockstepRun++;
  try {
    for (let r = 0; r < options.rounds; r++) {
      await Promise.all(Array.from({ length: options.connections }, one));
      await sleep(options.gapMs());
    }
  } finally {
    await pool.destroy();
  }
  return ledger;
}
let lockstepRun = 0;

/** Established TCP connections to `port` on loopback, from anyone (glidepath's pool or tunnel sockets). */
export function connectionsTo(port: number): number {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let n = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // rem_address ends with the pod's port; state 01 = ESTABLISHED.
      if (cols[2]?.endsWith(hex) && cols[3] === '01') n++;
    }
  }
  return n;
}
