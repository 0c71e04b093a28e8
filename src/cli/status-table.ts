// `glidepath status` as text: a pure function from the admin API's /status document to aligned
// lines for a terminal (versions, weights, rollout step, verdicts with their numbers, budget).

import type { ComponentEvidence, Evidence } from '../rollout/evidence.ts';

import type { StatusDocument as ServedStatus } from '../admin/status.ts';

/** Every field optional: a CLI may talk to an older or newer glidepath, and renders what is there. */
type Loose<T> = T extends readonly (infer U)[] ? readonly Loose<U>[] : T extends object ? { readonly [K in keyof T]?: Loose<T[K]> } : T;

/**
 * The /status document as the CLI reads it: the type src/admin/status.ts builds, every field
 * optional, plus the leadership section that several replicas will add.
 */
export type StatusDocument = Loose<Omit<ServedStatus, 'rollout'>> & { readonly rollout?: RolloutStatus; readonly leader?: unknown };
/** The evidence is one document from one analysis: present whole, or not at all. */
type RolloutStatus = Loose<Omit<NonNullable<ServedStatus['rollout']>, 'evidence'>> & { readonly evidence?: Evidence | null };
type RolloutPhase = NonNullable<RolloutStatus['phase']>;

export interface RenderOptions {
  /** ANSI colour (only for a terminal; never when NO_COLOR is set). */
  readonly color?: boolean;
  /** Decisions shown, newest last. */
  readonly decisions?: number;
}

const ANSI = { bold: 1, red: 31, green: 32, yellow: 33, cyan: 36 } as const;

/** The status document as text, one trailing newline. */
export function renderStatus(doc: StatusDocument, options: RenderOptions = {}): string {
  const paint = (style: keyof typeof ANSI, text: string): string => (options.color ? `\x1b[${ANSI[style]}m${text}\x1b[0m` : text);
  const lines: string[] = [];

  const head = [`glidepath ${doc.glidepath ?? '?'}`];
  if (isNum(doc.uptimeSeconds)) head.push(`up ${uptime(doc.uptimeSeconds)}`);
  if (isNum(doc.inFlight)) head.push(`${count(doc.inFlight)} in flight`);
  lines.push(head.join(', '));

  const d = doc.discovery;
  if (d !== undefined) {
    const facts = [
      isNum(d.updates) ? `${count(d.updates)} update${d.updates === 1 ? '' : 's'}` : undefined,
      d.updatedAt ? `last ${d.updatedAt}` : undefined,
    ].filter(Boolean);
    const health = d.lastError ? paint('red', 'ERROR') : 'ok';
    lines.push(`discovery: ${d.source ?? '?'}${facts.length ? ` (${facts.join(', ')})` : ''}: ${health}`);
    if (d.lastError) lines.push(indent(`${d.lastError.code ? `${d.lastError.code}: ` : ''}${d.lastError.message ?? ''}`, '  '));
  }
  if (doc.fallback) lines.push(paint('yellow', 'fallback: no ready endpoint anywhere; serving-but-terminating endpoints take traffic'));
  if (doc.panic) lines.push(paint('yellow', 'panic: every ready endpoint is ejected; routing to them anyway'));
  const leader = plainFields(doc.leader);
  if (leader !== undefined) lines.push(`leader: ${leader}`);

  lines.push('', ...versionsTable(doc, paint));

  const rejected = Object.entries(doc.rejected ?? {}).filter(([, n]) => isNum(n) && n > 0);
  if (rejected.length > 0) {
    const total = rejected.reduce((sum, [, n]) => sum + n, 0);
    lines.push(`rejected before routing: ${count(total)} (${rejected.map(([reason, n]) => `${reason} ${count(n)}`).join(', ')})`);
  }

  if (doc.rollout !== undefined) lines.push('', ...rolloutBlock(doc.rollout, options.decisions ?? 5, paint));
  else lines.push('', 'rollout: none reported (no rollout controller: glidepath runs without --deployment)');
  return `${lines.join('\n')}\n`;
}

type Paint = (style: keyof typeof ANSI, text: string) => string;

function versionsTable(doc: StatusDocument, paint: Paint): string[] {
  const versions = doc.versions ?? [];
  if (versions.length === 0) return ['versions: none (no endpoints loaded yet)'];
  const roles: Record<string, string> = {};
  if (doc.rollout?.canary) roles[doc.rollout.canary] = ' (canary)';
  if (doc.rollout?.stable) roles[doc.rollout.stable] = ' (stable)';
  const rows: string[][] = versions.map((v) => {
    const endpoints = v.endpoints ?? [];
    const ready = endpoints.filter((e) => e.state === 'ready').length;
    return [
      `${v.name ?? '?'}${roles[v.name ?? ''] ?? ''}`,
      isNum(v.revision) ? String(v.revision) : '-',
      isNum(v.weight) ? basisPoints(v.weight) : '-',
      isNum(v.effectiveWeight) ? basisPoints(v.effectiveWeight) : '-',
      `${ready}/${endpoints.length}`,
      isNum(v.requests) ? count(v.requests) : '-',
      isNum(v.failures) ? count(v.failures) : '-',
      isNum(v.requests) && isNum(v.failures) && v.requests > 0 ? percent(v.failures / v.requests) : '-',
    ];
  });
  const u = doc.unrouted;
  if (u !== undefined && isNum(u.requests) && u.requests > 0) {
    rows.push([
      '(unrouted)',
      '',
      '',
      '',
      '',
      count(u.requests),
      isNum(u.failures) ? count(u.failures) : '-',
      isNum(u.failures) ? percent(u.failures / u.requests) : '-',
    ]);
  }
  const header = ['VERSION', 'REVISION', 'WEIGHT', 'EFFECTIVE', 'READY', 'REQUESTS', 'FAILURES', 'FAILED'];
  // Text columns align left, numbers right.
  const right = [false, true, true, true, true, true, true, true];
  const table = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...table.map((r) => (r[c] as string).length)));
  const format = (r: string[]): string =>
    r
      .map((cell, c) => (right[c] ? cell.padStart(widths[c] as number) : cell.padEnd(widths[c] as number)))
      .join('  ')
      .trimEnd();
  return [paint('bold', format(header)), ...rows.map(format)];
}

function rolloutBlock(r: RolloutStatus, maxDecisions: number, paint: Paint): string[] {
  const lines: string[] = [];
  const phase = r.phase ?? 'unknown';
  const phaseColor = ({ progressing: 'cyan', paused: 'yellow', aborted: 'red', completed: 'green' } as const)[
    phase as Exclude<RolloutPhase, 'idle'>
  ];
  let title = `rollout: ${phaseColor ? paint(phaseColor, phase) : phase}${r.mode ? ` (${r.mode} mode)` : ''}`;
  const moving = phase === 'progressing' || phase === 'paused' || phase === 'aborted';
  if (moving && r.step !== undefined && isNum(r.step.index) && isNum(r.step.count)) {
    title += `, step ${Math.min(r.step.index + 1, r.step.count)}/${r.step.count}${isNum(r.step.setWeight) ? ` at ${r.step.setWeight}%` : ''}`;
  }
  lines.push(title);
  if (moving && (r.canary || r.stable)) lines.push(`  canary ${r.canary ?? '?'} vs stable ${r.stable ?? '?'}`);
  else if (r.stable) lines.push(`  stable ${r.stable}`);
  if (r.pausedReason) lines.push(`  paused: ${r.pausedReason}`);
  if (r.waitingFor) lines.push(`  waiting for: ${r.waitingFor}`);
  if (r.stateProblem) lines.push(`  ${r.stateProblem}`);
  if (r.abort) {
    const cut = isNum(r.abort.cutMs) ? `; canary cut ${num(r.abort.cutMs)} ms after the deciding request` : '';
    lines.push(paint('red', `  ABORTED: ${r.abort.reason} at ${r.abort.decidedAt}${cut}`));
    if (r.abort.message) lines.push(`    ${r.abort.message}`);
  }
  if (r.evidence) lines.push(...evidenceLines(r.evidence));
  const decisions = r.decisions ?? [];
  if (decisions.length > 0) {
    const shown = decisions.slice(-maxDecisions);
    lines.push(`  decisions${shown.length < decisions.length ? ` (last ${shown.length} of ${decisions.length})` : ''}:`);
    const actionWidth = Math.max(...shown.map((x) => (x.action ?? '').length));
    for (const x of shown) lines.push(`    ${x.at}  ${(x.action ?? '').padEnd(actionWidth)}  ${x.reason}`);
  }
  return lines;
}

function evidenceLines(e: Evidence): string[] {
  const lines: string[] = [];
  const b = e.budget;
  if (b !== undefined) {
    const spent = b.limit > 0 ? `, ${percent(b.ratio / b.limit)} of it spent` : '';
    lines.push(`  budget: ${percent(b.ratio)} of requests failed beyond stable's rate; limit ${percent(b.limit)}${spent}`);
    lines.push(
      `          ${num(b.excessFailures)} excess failures in ${count(b.clientRequests)} requests; ${num(Math.max(0, b.remaining))} more affordable`,
    );
    if (b.noiseAllowance != null)
      lines.push(`          breaks only ${num(b.noiseAllowance)} failures past the limit (the noise allowance at stable's rate)`);
  }
  const abortVerdict = e.abort !== null && e.abort !== undefined ? `crossed (${e.abort})` : 'not crossed';
  lines.push(
    `  abort test: e ${num(Math.exp(e.lnE))} of ${num(Math.exp(e.lnEThreshold))}, Shiryaev-Roberts ${num(Math.exp(e.lnSR))} of ${num(Math.exp(e.lnSRThreshold))}: ${abortVerdict}`,
  );
  for (const c of e.components ?? []) lines.push(`    ${componentLine(c)}`);
  const a = e.advance;
  if (a !== undefined) {
    const verdict = a.proven
      ? 'proven not worse'
      : `not yet proven${e.requestsNeededToProve > 0 ? `, ${count(e.requestsNeededToProve)} more canary requests needed` : ''}`;
    lines.push(`  advance test: e ${num(Math.exp(a.lnE))} of ${num(Math.exp(a.lnThreshold))}: ${verdict}`);
  }
  lines.push(
    `  first attempts: canary ${arm(e.canaryAttempts)}, stable ${arm(e.stableAttempts)}; this step canary ${arm(e.stepCanaryAttempts)}`,
  );
  if (e.rateRatio)
    lines.push(`  rate ratio canary/stable: ${num(e.rateRatio.lower)} to ${num(e.rateRatio.upper)} (confidence sequence, this step)`);
  if (e.latencyThresholdsMs) {
    const [p50, p90, p99] = e.latencyThresholdsMs;
    lines.push(`  latency thresholds: p50 ${num(p50)} ms, p90 ${num(p90)} ms, p99 ${num(p99)} ms`);
  }
  return lines;
}

function componentLine(c: ComponentEvidence): string {
  if (!c.active) return `${c.name}: off`;
  return `${c.name}: e ${num(Math.exp(c.lnE))}, Shiryaev-Roberts ${num(Math.exp(c.lnSR))}, ${count(c.events)} event${c.events === 1 ? '' : 's'}`;
}

function arm(a: { requests: number; failures: number } | undefined): string {
  if (a === undefined) return '-';
  return `${count(a.requests)} (${count(a.failures)} failed${a.requests > 0 ? `, ${percent(a.failures / a.requests)}` : ''})`;
}

function isNum(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

/** 12345 → "12,345": counts are read, not parsed. */
function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Basis points (10 000 = 100 %) as a percentage: 500 → "5%", 250 → "2.5%", 3333 → "33.33%". */
function basisPoints(bp: number): string {
  return `${Number((bp / 100).toFixed(2))}%`;
}

/** A ratio as a percentage with the digits that matter: 0.25 → "25%", 0.00012 → "0.012%". */
export function percent(ratio: number): string {
  if (!Number.isFinite(ratio)) return '-';
  const p = ratio * 100;
  if (p === 0) return '0%';
  if (Math.abs(p) < 0.000001) return p > 0 ? '<0.000001%' : '>-0.000001%';
  if (Math.abs(p) >= 10) return `${Number(p.toFixed(1))}%`;
  return `${Number(p.toPrecision(2))}%`;
}

/** A plain number for e-values and thresholds: three significant digits, exponent when huge or tiny. */
export function num(x: number): string {
  if (Number.isNaN(x)) return '-';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x !== 0 && (Math.abs(x) >= 1e5 || Math.abs(x) < 1e-3)) return x.toExponential(1);
  return String(Number(x.toPrecision(3)));
}

/** 3723 → "1h02m03s". */
function uptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3_600);
  const m = Math.floor((s % 3_600) / 60);
  const sec = s % 60;
  const two = (n: number): string => String(n).padStart(2, '0');
  if (d > 0) return `${d}d${two(h)}h${two(m)}m`;
  if (h > 0) return `${h}h${two(m)}m${two(sec)}s`;
  if (m > 0) return `${m}m${two(sec)}s`;
  return `${sec}s`;
}

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((l) => `${prefix}${l}`)
    .join('\n');
}

/** `{ identity: "a", isLeader: true }` → "identity a, isLeader true"; only scalar fields. */
function plainFields(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object') return String(value);
  const fields = Object.entries(value).filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v) || v === null);
  return fields.length ? fields.map(([k, v]) => `${k} ${String(v)}`).join(', ') : undefined;
}
