// Reads a V8 .cpuprofile (glidepath run with --cpu-prof, see `--profile`) and says where the time
// went: top functions by self and by total (inclusive) time, and self time per source file.
// Also a command: `node bench/profile.ts FILE.cpuprofile [TOP]`.

import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  readonly fn: string;
  readonly where: string;
  readonly selfMs: number;
  readonly selfPct: number;
  readonly totalMs: number;
  readonly totalPct: number;
}

export interface ProfileSummary {
  readonly file: string;
  readonly sampledMs: number;
  readonly idleMs: number;
  /** Non-idle time: the base of every percentage. */
  readonly busyMs: number;
  readonly topSelf: FunctionTime[];
  readonly topTotal: FunctionTime[];
  readonly byFile: { file: string; selfMs: number; selfPct: number }[];
  readonly byArea: { area: string; selfPct: number }[];
}

/**
 * Coarse areas of self time. The socket-write natives deserve their own: V8 samples on wall
 * time, so they carry the syscall, the loopback delivery to the peer and any preemption by it
 * (perf's on-CPU view puts all kernel time at ~35 %; see the bench report).
 */
function area(fn: string, file: string): string {
  if (file.startsWith('src/dataplane/')) return 'glidepath src/dataplane JS';
  if (file.startsWith('src/rollout/')) return 'glidepath src/rollout JS (the rollout analysis, as outcome observer)';
  if (file.startsWith('src/')) return 'glidepath src/ JS (outside the data plane)';
  if (/^(writev|writeLatin1String|writeUtf8String|writeBuffer|readv?|shutdown|close)$/.test(fn) && file === '(native)')
    return 'socket syscalls (native)';
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return 'V8/Node outside JS ((program))';
  if (/^(node_modules\/)?undici\//.test(file) || file.startsWith('wasm://')) return 'undici (JS + llhttp wasm)';
  if (file.startsWith('node:')) return 'Node core JS';
  if (file === '(native)') return 'other natives';
  return 'other JS';
}

const ROOT = new URL('..', import.meta.url).href;

function shortUrl(url: string): string {
  if (url === '') return '(native)';
  if (url.startsWith(ROOT)) return url.slice(ROOT.length);
  const nm = url.lastIndexOf('/node_modules/');
  return nm >= 0 ? url.slice(nm + '/node_modules/'.length) : url;
}

export function summariseProfile(file: string, top = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const key = (n: ProfileNode): string =>
    `${n.callFrame.functionName || '(anonymous)'}\t${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const perFile = new Map<string, number>();
  const perArea = new Map<string, number>();
  let sampled = 0;
  let idle = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    const leaf = byId.get(p.samples[i] as number);
    if (leaf === undefined) continue;
    sampled += dt;
    if (leaf.callFrame.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    self.set(key(leaf), (self.get(key(leaf)) ?? 0) + dt);
    const fileKey = leaf.callFrame.url === '' ? leaf.callFrame.functionName || '(native)' : shortUrl(leaf.callFrame.url);
    perFile.set(fileKey, (perFile.get(fileKey) ?? 0) + dt);
    const a = area(leaf.callFrame.functionName, shortUrl(leaf.callFrame.url));
    perArea.set(a, (perArea.get(a) ?? 0) + dt);
    // Inclusive time: each distinct function on the stack once (recursion would double count).
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const k = key(byId.get(id) as ProfileNode);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + dt);
    }
  }
  const busy = sampled - idle;
  const row = (k: string): FunctionTime => {
    const [fn, where] = k.split('\t') as [string, string];
    const s = self.get(k) ?? 0;
    const t = total.get(k) ?? 0;
    return { fn, where, selfMs: round(s), selfPct: round((100 * s) / busy), totalMs: round(t), totalPct: round((100 * t) / busy) };
  };
  const sortedBy = (m: Map<string, number>): string[] => [...m.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
  return {
    file,
    sampledMs: round(sampled),
    idleMs: round(idle),
    busyMs: round(busy),
    topSelf: sortedBy(self).slice(0, top).map(row),
    topTotal: sortedBy(total)
      .filter((k) => !k.startsWith('(root)'))
      .slice(0, top)
      .map(row),
    byFile: sortedBy(perFile)
      .slice(0, top)
      .map((f) => ({ file: f, selfMs: round(perFile.get(f) ?? 0), selfPct: round((100 * (perFile.get(f) ?? 0)) / busy) })),
    byArea: sortedBy(perArea)
      .filter((a) => (perArea.get(a) ?? 0) > 0)
      .map((a) => ({ area: a, selfPct: round((100 * (perArea.get(a) ?? 0)) / busy) })),
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

export function formatProfile(s: ProfileSummary): string {
  const fmt = (r: FunctionTime, field: 'self' | 'total'): string =>
    `${(field === 'self' ? r.selfPct : r.totalPct).toFixed(1).padStart(5)}%  ${(field === 'self' ? r.totalPct : r.selfPct).toFixed(1).padStart(5)}%  ${r.fn}  ${r.where}`;
  return [
    `Profile ${s.file}: ${s.busyMs.toFixed(0)} ms busy of ${s.sampledMs.toFixed(0)} ms sampled (percentages are of busy time)`,
    '',
    'Self time by area:',
    ...s.byArea.map((a) => `  ${a.selfPct.toFixed(1).padStart(5)}%  ${a.area}`),
    '',
    'Top self time:        self  total  function  where',
    ...s.topSelf.map((r) => `  ${fmt(r, 'self')}`),
    '',
    'Top total (inclusive) time:  total  self  function  where',
    ...s.topTotal.map((r) => `  ${fmt(r, 'total')}`),
    '',
    'Self time by file:',
    ...s.byFile.map((f) => `  ${f.selfPct.toFixed(1).padStart(5)}%  ${f.file}`),
  ].join('\n');
}

if (import.meta.main) {
  const [file, top] = process.argv.slice(2);
  if (file === undefined) {
    console.error('usage: node bench/profile.ts FILE.cpuprofile [TOP]');
    process.exit(2);
  }
  console.log(formatProfile(summariseProfile(file, Number(top ?? 25))));
}
