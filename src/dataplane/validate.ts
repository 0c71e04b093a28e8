// Strict input, stage one of the request path: what Node's parser lets through but a proxy must
// refuse (the table in docs/reliability-notes.md, "What Node accepts"), decided before anything is forwarded.

import type { IncomingMessage } from 'node:http';
import type { RejectReason } from './stats.ts';

/**
 * Host = uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2): an IP literal in brackets, or a
 * reg-name of unreserved / sub-delims / pct-encoded characters. No "/", "@", whitespace or
 * userinfo: those are how Host confusion and cache poisoning start.
 */
const HOST_RE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::\d{1,5})?$/;

export function isValidHost(value: string): boolean {
  if (value.length > 255 || !HOST_RE.test(value)) return false;
  const colon = value.lastIndexOf(':');
  // A port, if any, must be a port (the pattern allows up to five digits).
  return colon < 0 || value.endsWith(']') || Number(value.slice(colon + 1)) <= 65535;
}

/** Request-line checks: the version, and the size of the target. */
export function checkRequestLine(req: IncomingMessage, maxUrlBytes: number): RejectReason | null {
  // Node hands over "HTTP/2.0" and HTTP/0.9 request lines (measured); only 1.0 and 1.1 are HTTP/1.
  if (req.httpVersionMajor !== 1 || (req.httpVersionMinor !== 0 && req.httpVersionMinor !== 1)) return 'http_version';
  if ((req.url as string).length > maxUrlBytes) return 'url_too_long';
  return null;
}

/**
 * The target to forward, always in origin-form, or why there is none. An absolute-form target
 * (RFC 9112 §3.2.2) is accepted only when its authority is the Host the request carries: a
 * reverse proxy must never be talked into routing by a URL the Host does not agree with.
 */
export function originFormTarget(url: string, host: string | undefined): string | RejectReason {
  if (url.charCodeAt(0) === 47 /* / */) return url;
  const lower = url.slice(0, 8).toLowerCase();
  const schemeLength = lower.startsWith('http://') ? 7 : lower.startsWith('https://') ? 8 : 0;
  if (schemeLength === 0) return 'target_form'; // asterisk-form, authority-form, garbage
  let end = url.indexOf('/', schemeLength);
  const query = url.indexOf('?', schemeLength);
  if (query >= 0 && (end < 0 || query < end)) end = query;
  const authority = end < 0 ? url.slice(schemeLength) : url.slice(schemeLength, end);
  if (host === undefined || authority.length === 0 || authority.includes('@') || authority.toLowerCase() !== host.toLowerCase()) {
    return 'absolute_form_authority';
  }
  if (end < 0) return '/';
  return url.charCodeAt(end) === 63 /* ? */ ? `/${url.slice(end)}` : url.slice(end);
}

/** RFC 9112 §6.1: only "chunked" as the one and final coding; anything else is not ours to decode. */
export function checkTransferEncoding(value: string, req: IncomingMessage): RejectReason | null {
  if (req.httpVersionMinor === 0) return 'te_on_http10';
  return value.trim().toLowerCase() === 'chunked' ? null : 'transfer_coding';
}
