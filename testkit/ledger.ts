// The per-request ledger: drives real traffic (keep-alive, mixed GET and POST with bodies), records
// every request's outcome on the client side and reconciles it with what the pods recorded.

import { Pool } from 'undici';
import type { LedgerEntry } from '../src/demo/app.ts';
import { sleep } from './wait.ts';

export type ClientOutcome = 'ok' | 'http_5xx' | 'http_4xx' | 'error' | 'lost';

export interface ClientRecord {
  readonly id: string;
  readonly method: string;
  outcome: ClientOutcome;
  status: number;
  /** x-glidepath-error of a proxy-made response, or the client-side error code. */
  code: string;
  /** x-pod-version of the answer. */
  version: string;
  startedAt: number;
  endedAt: number;
}

export interface LoadOptions {
  readonly url: string;
  /** Parallel keep-alive connections, each sending one request at a time. */
  readonly connections?: number;
  /** Stop after this many requests (in total). */
  readonly total?: number;
  /** Stop starting requests after this long. */
  readonly durationMs?: number;
  /** Pause between two requests on one connection. */
  readonly gapMs?: number | (() => number);
  /** Share of POST requests (with a body). */
  readonly postRatio?: number;
  readonly bodyBytes?: number;
  readonly path?: string;
  /** A request still open after this long is recorded as lost (and aborted). */
  readonly requestTimeoutMs?: number;
  /** Extra headers per request. */
  readonly headers?: Record<string, string>;
  /** Called once per started request (e.g. to trigger a fault at request N). */
  readonly onRequest?: (index: number) => void;
  /** Stop starting requests once aborted (requests in flight still finish and are recorded). */
  readonly signal?: AbortSignal;
}

let runSeq = 0;

export class Ledger {
  readonly records = new Map<string, ClientRecord>();

  /** A request about to be sent: in the ledger as lost until its outcome is recorded. */
  open(id: string, method: string): ClientRecord {
    const record: ClientRecord = { id, method, outcome: 'lost', status: 0, code: '', version: '', startedAt: Date.now(), endedAt: 0 };
    this.records.set(id, record);
    return record;
  }

  get sent(): number {
    return this.records.size;
  }

  count(outcome: ClientOutcome, method?: string): number {
    let n = 0;
    for (const r of this.records.values()) if (r.outcome === outcome && (method === undefined || r.method === method)) n++;
    return n;
  }

  failures(method?: string): ClientRecord[] {
    return [...this.records.values()].filter((r) => r.outcome !== 'ok' && (method === undefined || r.method === method));
  }

  byVersion(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.records.values()) if (r.outcome === 'ok') out[r.version] = (out[r.version] ?? 0) + 1;
    return out;
  }

  summary(): Record<string, number> {
    const s: Record<string, number> = { sent: this.sent };
    for (const r of this.records.values()) s[r.outcome] = (s[r.outcome] ?? 0) + 1;
    return s;
  }
}

/** Sends traffic until `total` or `durationMs` is reached; every request ends in the ledger. */
export async function runLoad(options: LoadOptions, ledger = new Ledger()): Promise<Ledger> {
  const connections = options.connections ?? 8;
  const pool = new Pool(options.url, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const body = Buffer.alloc(options.bodyBytes ?? 1024, 0x62);
  const deadline = options.durationMs === undefined ? Infinity : Date.now() + options.durationMs;
  const total = options.total ?? Infinity;
  const run = ++runSeq;
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < total && Date.now() < deadline && options.signal?.aborted !== true) {
      const index = started++;
      options.onRequest?.(index);
      const id = `r${process.pid}-${run}-${index}`;
      const post = options.postRatio !== undefined && index % 100 < options.postRatio * 100;
      const record = ledger.open(id, post ? 'POST' : 'GET');
      await recordRequest(pool, record, {
        path: options.path ?? '/',
        body: post ? body : null,
        headers: options.headers,
        timeoutMs: options.requestTimeoutMs ?? 15_000,
      });
      const gap = typeof options.gapMs === 'function' ? options.gapMs() : options.gapMs;
      if (gap !== undefined && gap > 0) await sleep(gap);
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  await pool.destroy();
  return ledger;
}

/**
 * What counts as a success, for every load driver: a status below 400 and the whole body read.
 * A 4xx or 5xx is a failure whoever made it (pod or glidepath); a request still open at its
 * deadline is lost, any other error (reset, truncated body) is an error.
 */
export function outcomeOf(status: number): 'ok' | 'http_4xx' | 'http_5xx' {
  return status >= 500 ? 'http_5xx' : status >= 400 ? 'http_4xx' : 'ok';
}

export interface RecordedRequest {
  readonly path: string;
  /** A POST body, or null for a GET (the method is the record's). */
  readonly body: Buffer | null;
  readonly headers?: Record<string, string> | undefined;
  /** The request is aborted and recorded as lost after this long. */
  readonly timeoutMs: number;
}

/** Sends one request tagged with the record's id and writes how it ended into `record`; never throws. */
export async function recordRequest(pool: Pool, record: ClientRecord, request: RecordedRequest): Promise<void> {
  const signal = AbortSignal.timeout(request.timeoutMs);
  try {
    const res = await pool.request({
      path: request.path,
      method: record.method,
      headers: { 'x-test-id': record.id, ...(request.body ? { 'content-type': 'application/octet-stream' } : {}), ...request.headers },
      body: request.body,
      signal,
    });
    record.status = res.statusCode;
    record.code = String(res.headers['x-glidepath-error'] ?? '');
    record.version = String(res.headers['x-pod-version'] ?? '');
    await res.body.arrayBuffer(); // throws if the body was aborted or truncated
    record.outcome = outcomeOf(res.statusCode);
  } catch (err) {
    record.outcome = signal.aborted ? 'lost' : 'error';
    record.code = (err as { code?: string }).code ?? (err as Error).name;
  }
  record.endedAt = Date.now();
}

export interface Reconciliation {
  /** Client saw success but no pod recorded answering it. */
  readonly okWithoutPod: string[];
  /** A pod finished a request the client never heard of. */
  readonly podWithoutClient: string[];
  /** A pod recorded finishing a request with a status other than the client's. */
  readonly statusMismatch: string[];
  /** Pod-side 'done' count per test id (retries show as more than one attempt on the pods). */
  readonly podAttempts: Map<string, number>;
}

/** Reconciles the client ledger with the pods' ledgers. */
export function reconcile(ledger: Ledger, podLedgers: LedgerEntry[][]): Reconciliation {
  const done = new Map<string, LedgerEntry[]>();
  const attempts = new Map<string, number>();
  for (const entries of podLedgers) {
    for (const e of entries) {
      if (e.ev === 'recv') attempts.set(e.id, (attempts.get(e.id) ?? 0) + 1);
      // 'sent' counts as the pod's answer too: a pod killed right after answering never logs 'done'.
      if (e.ev !== 'done' && e.ev !== 'sent') continue;
      const list = done.get(e.id);
      if (list) list.push(e);
      else done.set(e.id, [e]);
    }
  }
  const okWithoutPod: string[] = [];
  const statusMismatch: string[] = [];
  for (const r of ledger.records.values()) {
    if (r.outcome !== 'ok') continue;
    const seen = done.get(r.id);
    if (!seen) okWithoutPod.push(r.id);
    else if (!seen.some((e) => e.status === r.status)) statusMismatch.push(r.id);
  }
  const podWithoutClient = [...done.keys()].filter((id) => id.startsWith('r') && !ledger.records.has(id));
  return { okWithoutPod, podWithoutClient, statusMismatch, podAttempts: attempts };
}
