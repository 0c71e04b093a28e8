// The bench's paired measurement of two proxies (glidepath mid-rollout against glidepath with one
// version): both loaded at once, at the same even rate, with their CPU read over the same window,
// so whatever else the shared VM does in that window lands on both and cancels in the ratio.

import type { LatencyRun, LoadGenerator } from './loadgen.ts';
import { openWindow } from './proc.ts';
import { median } from './report.ts';
import { sleep } from '../testkit/wait.ts';

export interface PairedTarget {
  readonly name: string;
  readonly port: number;
  readonly pids: () => number[];
  /** Requests the proxy has answered since it started, by its own counters. */
  readonly answered: () => Promise<number>;
}

export interface PairedOptions {
  readonly windows: number;
  /** Requests per second sent to each of the two, evenly (latprobe). */
  readonly rate: number;
  readonly seconds: number;
  readonly conns: number;
  readonly warmup: number;
}

export interface PairedWindow {
  /** CPU µs per answered request, [a, b]. */
  readonly usPerRequest: [number, number];
  readonly answered: [number, number];
  readonly errors: number;
  /** Ticks a probe could not send on (every connection busy): the rate was not held. */
  readonly skipped: number;
  /** b / a. */
  readonly ratio: number;
  readonly otherLoadPct: number;
}

export interface PairedResult {
  readonly a: string;
  readonly b: string;
  readonly options: PairedOptions;
  readonly windows: PairedWindow[];
  /** Median of the per-window ratios b / a. */
  readonly medianRatio: number;
  readonly medianUsPerRequest: [number, number];
}

/**
 * `windows` times: an even-rate probe against each of `a` and `b` at once (the same rate, the same
 * connections); after the probes' warm-up, the CPU of both is read over their measuring seconds.
 * Closed-loop throughput runs one after the other cannot see a 5 % difference on a VM where the
 * same-round ratio of two identical runs spreads from 0.55 to 1.5; these windows share the noise.
 */
export async function measurePaired(
  load: LoadGenerator,
  a: PairedTarget,
  b: PairedTarget,
  options: PairedOptions,
  allPids: () => number[],
  say: (line: string) => void,
): Promise<PairedResult> {
  const windows: PairedWindow[] = [];
  for (let i = 0; i < options.windows; i++) {
    // Alternate which probe starts first, so a start-up order effect cannot favour one side.
    const [first, second] = i % 2 === 0 ? [a, b] : [b, a];
    const probe = (t: PairedTarget): Promise<LatencyRun> =>
      load.latency(t.port, { rate: options.rate, seconds: options.seconds, conns: options.conns, warmup: options.warmup });
    const running = [probe(first), probe(second)];
    // The probes start sending ~0.2-0.4 s after spawn (node start-up, connections): open the window
    // well after their warm-up and close it well before their end, when both send at the set rate.
    await sleep(options.warmup * 1000 + 500);
    const before = await Promise.all([a.answered(), b.answered()]);
    const close = openWindow([a.pids(), b.pids()], allPids());
    await sleep(options.seconds * 1000 - 500);
    const w = close();
    const after = await Promise.all([a.answered(), b.answered()]);
    const runs = await Promise.all(running);
    const [ra, rb] = (first === a ? runs : [runs[1], runs[0]]) as [LatencyRun, LatencyRun];
    // The proxies' own counts over the window: on a loaded VM a probe falls behind its rate, and
    // not always both by as much.
    const answered: [number, number] = [(after[0] as number) - (before[0] as number), (after[1] as number) - (before[1] as number)];
    const usPerRequest: [number, number] = [(w.cpuUs[0] as number) / answered[0], (w.cpuUs[1] as number) / answered[1]];
    const window: PairedWindow = {
      usPerRequest,
      answered,
      errors: ra.errors + ra.non200 + rb.errors + rb.non200,
      skipped: ra.skipped + rb.skipped,
      ratio: usPerRequest[1] / usPerRequest[0],
      otherLoadPct: w.otherLoadPct,
    };
    windows.push(window);
    say(
      `  paired w${i + 1} ${a.name} ${usPerRequest[0].toFixed(1)} µs/req, ${b.name} ${usPerRequest[1].toFixed(1)} µs/req: ratio ${window.ratio.toFixed(3)}  (${answered.join(' / ')} answered, errors ${window.errors}, skipped ${window.skipped}, other load ${w.otherLoadPct.toFixed(0)}%)`,
    );
  }
  return {
    a: a.name,
    b: b.name,
    options,
    windows,
    medianRatio: median(windows.map((w) => w.ratio)),
    medianUsPerRequest: [median(windows.map((w) => w.usPerRequest[0])), median(windows.map((w) => w.usPerRequest[1]))],
  };
}
