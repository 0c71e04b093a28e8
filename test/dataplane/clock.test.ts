// The data plane's control-plane time runs on the injected Clock: ejection and re-admission,
// the growing ejection time, and the end of slow start, stepped with a fake clock.

import t from 'tap';
import { DataPlane } from '../../src/dataplane/dataplane.ts';
import type { Clock, ClockTimer } from '../../src/core/control.ts';
import { XorShiftRandom } from '../../src/core/random.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Endpoint } from '../../src/core/types.ts';

/** Time that moves only when told; timers fire in order as it passes them. */
class SteppedClock implements Clock {
  #now = 1_000;
  #timers: { at: number; fn: () => void; cleared: boolean; unref: () => unknown }[] = [];
  now(): number {
    return this.#now;
  }
  wallNow(): number {
    return 1_700_000_000_000 + this.#now;
  }
  setTimeout(fn: () => void, ms: number): ClockTimer {
    const timer = { at: this.#now + ms, fn, cleared: false, unref: () => timer };
    this.#timers.push(timer);
    return timer;
  }
  clearTimeout(timer: ClockTimer | undefined): void {
    if (timer !== undefined) (timer as { cleared: boolean }).cleared = true;
  }
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((x) => !x.cleared && x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      due.cleared = true;
      this.#now = due.at;
      due.fn();
    }
    this.#now = end;
  }
}

const config = loadConfig({ flags: {} });
const endpoint = (port: number): Endpoint => ({ host: '127.0.0.1', port, version: 'v1', ready: true, serving: true, terminating: false });

function dataPlane(clock: Clock): DataPlane {
  return new DataPlane({
    server: config.server,
    upstream: { ...config.upstream, slowStartWindow: 5_000 },
    retry: config.retry,
    outlier: { ...config.outlier, consecutiveFailures: 2, baseEjectionTime: 10_000, maxEjectionPercent: 50 },
    websocket: config.websocket,
    random: new XorShiftRandom(3),
    clock,
  });
}

t.test('an ejection lasts baseEjectionTime on the clock, a repeat twice as long', async (t) => {
  const clock = new SteppedClock();
  const dp = dataPlane(clock);
  dp.applyDiscovery({ versions: [{ name: 'v1', revision: 1 }], endpoints: [endpoint(1), endpoint(2)] });
  const [a] = dp.snapshot.routable[0]?.endpoints ?? [];
  if (a === undefined) throw new Error('expected endpoints');
  dp.endpointResult(a, true);
  dp.endpointResult(a, true);
  t.equal(a.state, 'ejected', 'two consecutive failures eject');
  clock.advance(9_999);
  t.equal(a.state, 'ejected', 'still ejected 1 ms before the base time');
  clock.advance(1);
  t.equal(a.state, 'ready', 're-admitted at 10 s');
  t.equal(dp.snapshot.routable[0]?.endpoints.length, 2, 'and routed to again');
  dp.endpointResult(a, true);
  dp.endpointResult(a, true);
  clock.advance(19_999);
  t.equal(a.state, 'ejected', 'the second ejection at once: 20 s');
  clock.advance(1);
  t.equal(a.state, 'ready', 'over after 20 s');
  await dp.destroy();
});

t.test('slow start ends when the window has passed on the clock', async (t) => {
  const clock = new SteppedClock();
  const dp = dataPlane(clock);
  const versions = [{ name: 'v1', revision: 1 }];
  dp.applyDiscovery({ versions, endpoints: [endpoint(1)] });
  dp.applyDiscovery({ versions, endpoints: [endpoint(1), endpoint(2)] });
  t.equal(dp.snapshot.routable[0]?.slowStart, true, 'the new pod ramps');
  clock.advance(5_000);
  t.equal(dp.snapshot.routable[0]?.slowStart, true, 'still ramping at the window (the timer checks 10 ms later)');
  clock.advance(10);
  t.equal(dp.snapshot.routable[0]?.slowStart, false, 'done after the window');
  await dp.destroy();
});

t.test('the retry budget counts on the clock', async (t) => {
  const clock = new SteppedClock();
  const dp = new DataPlane({
    server: config.server,
    upstream: config.upstream,
    retry: { ...config.retry, budgetRatio: 0, budgetMinPerSecond: 1 },
    outlier: config.outlier,
    websocket: config.websocket,
    clock,
  });
  let granted = 0;
  while (dp.acquireRetry()) granted++;
  t.equal(granted, 10, '1 per second over the 10 s window');
  t.notOk(dp.retryAvailable(), 'spent');
  clock.advance(10_000);
  t.ok(dp.retryAvailable(), 'the window moved on with the clock');
  await dp.destroy();
});
