// The replay body buffer: a request body small enough (retry.replayBufferBytes) is read in full
// and kept before the first attempt, so a replay can resend it; a global cap
// (retry.replayBufferTotalBytes) bounds what all requests in flight keep. Past either, bodies stream.

import type { IncomingMessage } from 'node:http';

/** Bytes kept for replays by every request in flight, against one ceiling. */
export class ReplayBytes {
  #inUse = 0;
  readonly #total: number;

  constructor(totalBytes: number) {
    this.#total = totalBytes;
  }

  reserve(bytes: number): boolean {
    if (this.#inUse + bytes > this.#total) return false;
    this.#inUse += bytes;
    return true;
  }

  release(bytes: number): void {
    this.#inUse -= bytes;
  }

  get inUse(): number {
    return this.#inUse;
  }
}

/** The request whose body is collected (the Exchange). */
export interface BodyHolder {
  readonly req: IncomingMessage;
  readonly chunked: boolean;
  readonly contentLength: number;
  /** What goes to the pod: none, the kept copy, or the live stream. */
  body: Buffer | IncomingMessage | null;
  /** Bytes reserved in ReplayBytes for this request (released when it finishes). */
  replayBytes: number;
  /** Chunks read so far while collecting; null when not collecting. */
  collected: Buffer[] | null;
  /** The body is settled (kept, or streaming): send the first attempt. */
  bodyReady(): void;
  reserveReplayBytes(bytes: number): boolean;
  releaseReplayBytes(bytes: number): void;
}

const kHolder = Symbol('glidepath.bodyHolder');
type Tracked = IncomingMessage & { [kHolder]?: BodyHolder };

/**
 * Settles how the body goes out. Returns false when the caller may send at once (no body, or
 * one that streams); true when collection started and `bodyReady()` follows once it is settled.
 */
export function collectBody(h: BodyHolder, limit: number): boolean {
  if (!h.chunked && h.contentLength <= 0) return false;
  const want = h.chunked ? limit : h.contentLength;
  if (want > limit || limit === 0 || !h.reserveReplayBytes(want)) {
    h.body = h.req;
    return false;
  }
  h.replayBytes = want;
  h.collected = [];
  // Module-level listeners with the holder on the request: no per-request closures.
  (h.req as Tracked)[kHolder] = h;
  h.req.on('data', onBodyData);
  h.req.on('end', onBodyEnd);
  return true;
}

function onBodyData(this: Tracked, chunk: Buffer): void {
  const h = this[kHolder];
  if (h === undefined || h.collected === null) return;
  const collected = h.collected;
  collected.push(chunk);
  let size = 0;
  for (const c of collected) size += c.length;
  if (size <= h.replayBytes) return;
  // Chunked body larger than the replay buffer: put back what we read and stream it all.
  this.pause();
  this.off('data', onBodyData);
  this.off('end', onBodyEnd);
  this.unshift(Buffer.concat(collected));
  h.collected = null;
  h.releaseReplayBytes(h.replayBytes);
  h.replayBytes = 0;
  h.body = this;
  h.bodyReady();
}

function onBodyEnd(this: Tracked): void {
  const h = this[kHolder];
  if (h === undefined || h.collected === null) return;
  const collected = h.collected;
  h.collected = null;
  h.body = collected.length === 1 ? (collected[0] as Buffer) : Buffer.concat(collected);
  h.bodyReady();
}
