// The abort annotation's content: why a rollout was aborted, with the evidence that decided it, as
// compact JSON under a hard size bound (Kubernetes allows 256 KiB for all annotations of an object
// together, apimachinery validation TotalAnnotationSizeLimitB, and the Deployment controller copies
// them onto the new ReplicaSet, so glidepath keeps its own small).

import type { AbortReason, Evidence } from '../evidence.ts';
import type { AbortActionKind } from './types.ts';

export const MAX_ABORT_RECORD_BYTES = 8 * 1024;

export interface AbortRecordInput {
  readonly reason: AbortReason;
  /** One human sentence, as in the Event. */
  readonly message: string;
  /** Wall-clock ms of the abort decision. */
  readonly at: number;
  /** pod-template-hash of the aborted version: not rolled out again until the template changes. */
  readonly canary: string;
  readonly stable: string;
  readonly action: AbortActionKind;
  /** Milliseconds from the deciding request to canary weight 0, when known. */
  readonly decisionMs?: number | null;
  readonly evidence?: Evidence | null;
}

/** Four significant digits: enough to explain a decision, small on the wire. Non-finite as text. */
function num(x: number): number | string {
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x)) return x;
  return Number(x.toPrecision(4));
}

function evidenceSummary(e: Evidence): Record<string, unknown> {
  return {
    canaryAttempts: e.canaryAttempts,
    stableAttempts: e.stableAttempts,
    stepCanaryAttempts: e.stepCanaryAttempts,
    lnE: num(e.lnE),
    lnEThreshold: num(e.lnEThreshold),
    lnSR: num(e.lnSR),
    lnSRThreshold: num(e.lnSRThreshold),
    components: e.components.map((c) => ({ name: c.name, lnE: num(c.lnE), lnSR: num(c.lnSR), events: c.events, active: c.active })),
    rateRatio: e.rateRatio ? { lower: num(e.rateRatio.lower), upper: num(e.rateRatio.upper) } : null,
    latencyThresholdsMs: e.latencyThresholdsMs ? e.latencyThresholdsMs.map(num) : null,
    budget: {
      clientRequests: e.budget.clientRequests,
      excessFailures: num(e.budget.excessFailures),
      ratio: num(e.budget.ratio),
      limit: num(e.budget.limit),
      remaining: num(e.budget.remaining),
    },
  };
}

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * The annotation value. If it would exceed `maxBytes`, the message is shortened first (it is also
 * in the Event), then the evidence is dropped; `truncated: true` says so.
 */
export function abortRecordJson(input: AbortRecordInput, maxBytes = MAX_ABORT_RECORD_BYTES): string {
  const base = {
    reason: input.reason,
    at: new Date(input.at).toISOString(),
    canary: input.canary,
    stable: input.stable,
    action: input.action,
    decisionMs: input.decisionMs == null ? null : num(input.decisionMs),
  };
  const evidence = input.evidence ? evidenceSummary(input.evidence) : null;
  let json = JSON.stringify({ ...base, message: input.message, evidence });
  if (bytes(json) <= maxBytes) return json;
  const room = maxBytes - bytes(JSON.stringify({ ...base, message: '', evidence, truncated: true }));
  if (room > 16) {
    let message = input.message.slice(0, room);
    // Escapes and multi-byte characters make the JSON longer than the slice; shorten until it fits.
    while (bytes((json = JSON.stringify({ ...base, message: `${message}…`, evidence, truncated: true }))) > maxBytes)
      message = message.slice(0, Math.floor(message.length * 0.9));
    return json;
  }
  json = JSON.stringify({ ...base, message: input.message.slice(0, 200), evidence: null, truncated: true });
  if (bytes(json) <= maxBytes) return json;
  throw new RangeError(
    `abort record cannot fit in ${maxBytes} bytes even without evidence: version names are ${bytes(input.canary) + bytes(input.stable)} bytes`,
  );
}
