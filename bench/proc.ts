// CPU accounting from /proc (proc(5), fields 14 and 15 of /proc/PID/stat): utime+stime of a process tree over a measured
// window, which on this noisy VM is far steadier than req/s.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { sleep } from '../testkit/wait.ts';

/** Clock ticks per second of utime/stime (100 on every Linux we run on; asked, not assumed). */
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
export const TICK_US = 1e6 / CLK_TCK;

/** Fields after the ")" of /proc/PID/stat (the command name may contain spaces). */
function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** utime and stime in ticks of one process (all its threads); 0 once it is gone. */
function ticks(pid: number): { user: number; sys: number } {
  const f = statFields(pid);
  // Field 14 and 15 of stat(5); the slice starts at field 3.
  return f === undefined ? { user: 0, sys: 0 } : { user: Number(f[11]), sys: Number(f[12]) };
}

/** Every live descendant of pid (nginx's worker, a cluster's workers), by a scan of /proc. */
export function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const p = Number(entry);
    if (!Number.isInteger(p)) continue;
    const f = statFields(p);
    if (f !== undefined) parentOf.set(p, Number(f[1]));
  }
  const out: number[] = [];
  let frontier = [pid];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const [p, parent] of parentOf) if (frontier.includes(parent)) next.push(p);
    out.push(...next);
    frontier = next;
  }
  return out;
}

/** CPU time in µs used so far by these processes (utime+stime). */
export function cpuMicros(pids: readonly number[]): number {
  const { user, sys } = cpuSplit(pids);
  return user + sys;
}

/** The same, split: user time is the program, system time mostly the socket syscalls. */
function cpuSplit(pids: readonly number[]): { user: number; sys: number } {
  let user = 0;
  let sys = 0;
  for (const pid of pids) {
    const t = ticks(pid);
    user += t.user;
    sys += t.sys;
  }
  return { user: user * TICK_US, sys: sys * TICK_US };
}

/** The bench itself plus the children it has reaped (finished load generators), in µs. */
export function benchCpuMicros(): number {
  const f = statFields(process.pid);
  // utime, stime, cutime, cstime: fields 14-17.
  return f === undefined ? 0 : (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_US;
}

/** Whole-machine counters from /proc/stat (ticks), for steal time and for CPU used by others. */
export function machineTicks(): { total: number; busy: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] as string;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal; guest time is already inside user. Busy
  // leaves out irq/softirq: loopback packet work lands there, uncharged to the processes that
  // caused it (mostly ours), so counting it would blame our own traffic on others.
  const total = v.slice(0, 8).reduce((s, x) => s + x, 0);
  return { total, busy: (v[0] ?? 0) + (v[1] ?? 0) + (v[2] ?? 0), steal: v[7] ?? 0 };
}

export interface Window {
  readonly wallUs: number;
  /** CPU µs (utime+stime) of each pid group passed to openWindow, in order. */
  readonly cpuUs: number[];
  /** The stime part of cpuUs. */
  readonly sysUs: number[];
  /** CPU used meanwhile by processes that are not the bench's, % of one core. */
  readonly otherLoadPct: number;
  readonly stealPct: number;
}

/**
 * Starts a measured window; call the result to close it. `ours` is every process the bench
 * runs: machine CPU beyond them and the bench's reaped children (load generators) is someone
 * else's, and others share this VM, so every run says how much of that there was.
 */
export function openWindow(groups: readonly (readonly number[])[], ours: readonly number[]): () => Window {
  const before = {
    groups: groups.map(cpuSplit),
    ours: cpuMicros(ours),
    bench: benchCpuMicros(),
    machine: machineTicks(),
    t: performance.now(),
  };
  return () => {
    const machine = machineTicks();
    const wallUs = (performance.now() - before.t) * 1000;
    const oursUs = cpuMicros(ours) - before.ours + benchCpuMicros() - before.bench;
    const otherUs = (machine.busy - before.machine.busy) * TICK_US - oursUs;
    return {
      wallUs,
      cpuUs: groups.map((g, i) => cpuMicros(g) - (before.groups[i]?.user ?? 0) - (before.groups[i]?.sys ?? 0)),
      sysUs: groups.map((g, i) => cpuSplit(g).sys - (before.groups[i]?.sys ?? 0)),
      otherLoadPct: Math.max(0, (100 * otherUs) / wallUs),
      stealPct: (100 * (machine.steal - before.machine.steal)) / Math.max(1, machine.total - before.machine.total),
    };
  };
}

/** Waits (at most maxMs) until others use at most maxPct of a core, sampled over 500 ms; returns the last sample. */
export async function waitForQuiet(ours: readonly number[], maxPct: number, maxMs: number): Promise<number> {
  const deadline = performance.now() + maxMs;
  for (;;) {
    const close = openWindow([], ours);
    await sleep(500);
    const other = close().otherLoadPct;
    if (other <= maxPct || performance.now() >= deadline) return other;
  }
}
