// Header hygiene on both legs: hop-by-hop headers and every header named in Connection are
// stripped before ours are added (RFC 9110 §7.6.1); forwarding headers are set, never trusted blindly.

import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { RejectReason } from './stats.ts';
import { isValidHost, checkTransferEncoding } from './validate.ts';

/** What the header pass learned about a request, for the stages after it. */
export interface RequestFacts {
  host: string | undefined;
  /** The target to forward, in origin-form (set once the target passed its checks). */
  path: string;
  requestId: string;
  /** Body framing announced by the client. */
  chunked: boolean;
  contentLength: number;
  /** The client marked this request safe to replay (retry.replayHeader: true)... */
  replayMarked: boolean;
  /** ...or never to replay once sent (retry.replayHeader: false). */
  replayForbidden: boolean;
}

/** Names consumed by glidepath itself rather than forwarded; lower case. */
const CONNECTION_OPTIONS_KEPT = new Set(['close', 'keep-alive', 'upgrade']);

// A request id we propagate must be printable and short; anything else is replaced.
const REQUEST_ID_RE = /^[\x21-\x7e]{1,200}$/;

const VIA = '1.1 glidepath';

// Request ids in UUID form: the first 24 characters of a random UUID per process, then a
// counter as the last 12 hex digits. Unique across replicas and restarts like a UUID, at the
// cost of an increment instead of 16 random bytes per request.
const ID_PREFIX = randomUUID().slice(0, 24);
let idCounter = 0;

export function nextRequestId(): string {
  return ID_PREFIX + (++idCounter).toString(16).padStart(12, '0');
}

/**
 * One pass over `req.rawHeaders`: validates Host and framing, strips hop-by-hop and forwarding
 * headers, and returns the flat [name, value, ...] list for the pod, or why the request is refused.
 * Client-sent X-Forwarded-* / Forwarded / X-Real-IP are kept (and appended to) only when the peer
 * is trusted; from anyone else they are dropped and rewritten from what glidepath saw.
 */
export function buildUpstreamHeaders(
  req: IncomingMessage,
  peerTrusted: boolean,
  replayHeader: string,
  facts: RequestFacts,
): string[] | RejectReason {
  const raw = req.rawHeaders;
  const out: string[] = [];
  let hostCount = 0;
  let connection: string | undefined;
  let te: string | undefined;
  let xff: string | undefined;
  let xfProto: string | undefined;
  let xfHost: string | undefined;
  let via: string | undefined;
  let requestId: string | undefined;
  facts.contentLength = -1;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    switch (lower) {
      case 'host':
        hostCount++;
        facts.host = value;
        out.push(name, value);
        break;
      case 'content-length':
        facts.contentLength = Number(value);
        out.push(name, value);
        break;
      case 'connection':
        connection = connection === undefined ? value : `${connection},${value}`;
        break;
      case 'transfer-encoding':
        te = value;
        break;
      case 'upgrade':
        // h2c smuggling: a pod that upgrades would hand the client a raw HTTP/2 tunnel past us.
        if (value.toLowerCase().includes('h2c')) return 'h2c_upgrade';
        break;
      case 'keep-alive':
      case 'proxy-connection':
      case 'te':
      case 'trailer':
      case 'expect': // Node answered 100-continue already; the body is streamed as it comes.
        break;
      case 'x-forwarded-for':
        if (peerTrusted) xff = xff === undefined ? value : `${xff}, ${value}`;
        break;
      case 'x-forwarded-proto':
        if (peerTrusted) xfProto = value;
        break;
      case 'x-forwarded-host':
        if (peerTrusted) xfHost = value;
        break;
      case 'forwarded':
      case 'x-real-ip':
        if (peerTrusted) out.push(name, value);
        break;
      case 'via':
        via = via === undefined ? value : `${via}, ${value}`;
        break;
      case 'x-request-id':
        if (requestId === undefined && REQUEST_ID_RE.test(value)) requestId = value;
        break;
      default:
        if (lower === replayHeader) {
          const v = value.trim().toLowerCase();
          facts.replayMarked = v === 'true';
          facts.replayForbidden = v === 'false';
        }
        out.push(name, value);
    }
  }
  if (hostCount > 1) return 'duplicate_host';
  if (hostCount === 0 && req.httpVersionMinor === 1) return 'invalid_host'; // RFC 9112 §3.2: HTTP/1.1 needs one Host
  if (hostCount === 1 && !isValidHost(facts.host as string)) return 'invalid_host';
  facts.chunked = false;
  if (te !== undefined) {
    const bad = checkTransferEncoding(te, req);
    if (bad !== null) return bad;
    facts.chunked = true;
  }
  if (connection !== undefined) {
    // Forwarding headers are held apart from `out`; one named in Connection is hop-by-hop all the same.
    const named = stripConnectionOptions(out, connection);
    if (named?.has('x-forwarded-for')) xff = undefined;
    if (named?.has('x-forwarded-proto')) xfProto = undefined;
    if (named?.has('x-forwarded-host')) xfHost = undefined;
    if (named?.has('via')) via = undefined;
    if (named?.has('x-request-id')) requestId = undefined;
  }

  const peer = req.socket.remoteAddress ?? '';
  out.push('x-forwarded-for', xff === undefined ? peer : `${xff}, ${peer}`);
  out.push('x-forwarded-proto', xfProto ?? 'http');
  if (xfHost !== undefined || facts.host !== undefined) out.push('x-forwarded-host', (xfHost ?? facts.host) as string);
  out.push('via', via === undefined ? VIA : `${via}, ${VIA}`);
  facts.requestId = requestId ?? nextRequestId();
  out.push('x-request-id', facts.requestId);
  return out;
}

/** Removes from a flat header list every header the Connection header names (rare: custom options); returns those names. */
export function stripConnectionOptions(out: string[], connection: string): Set<string> | undefined {
  // The common values name nothing to strip; answer them without splitting (every pod sends one).
  const whole = connection.length <= 10 ? connection.toLowerCase() : '';
  if (whole === 'keep-alive' || whole === 'close' || whole === 'upgrade') return undefined;
  let names: Set<string> | undefined;
  for (const token of connection.split(',')) {
    const t = token.trim().toLowerCase();
    if (t.length > 0 && !CONNECTION_OPTIONS_KEPT.has(t)) (names ??= new Set()).add(t);
  }
  if (names === undefined) return undefined;
  let w = 0;
  for (let r = 0; r < out.length; r += 2) {
    if (names.has((out[r] as string).toLowerCase())) continue;
    out[w++] = out[r] as string;
    out[w++] = out[r + 1] as string;
  }
  out.length = w;
  return names;
}

/**
 * Response headers for the client from undici's raw list (Buffers): hop-by-hop and
 * Connection-named headers dropped, names and values as latin1 strings, order and case kept.
 * Node then chooses the client framing (content-length kept, else chunked).
 */
export function buildResponseHeaders(raw: readonly (Buffer | string)[], requestId: string): string[] {
  const out: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const nameRaw = raw[i] as Buffer | string;
    const name = typeof nameRaw === 'string' ? nameRaw : nameRaw.toString('latin1');
    const valueRaw = raw[i + 1] as Buffer | string;
    const value = typeof valueRaw === 'string' ? valueRaw : valueRaw.toString('latin1');
    switch (name.length) {
      // Only names of these lengths can be hop-by-hop; skip the lower-casing for the rest.
      case 2:
      case 7:
      case 10:
      case 16:
      case 17: {
        const lower = name.toLowerCase();
        if (lower === 'connection') {
          connection = connection === undefined ? value : `${connection},${value}`;
          continue;
        }
        if (
          lower === 'keep-alive' ||
          lower === 'transfer-encoding' ||
          lower === 'te' ||
          lower === 'trailer' ||
          lower === 'upgrade' ||
          lower === 'proxy-connection'
        )
          continue;
        break;
      }
      case 12:
        if (name.toLowerCase() === 'x-request-id') continue;
        break;
    }
    out.push(name, value);
  }
  if (connection !== undefined) stripConnectionOptions(out, connection);
  out.push('x-request-id', requestId);
  return out;
}
