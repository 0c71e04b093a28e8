// The load generators, each run as a child process so it can be pinned and never shares an
// event loop with the bench: wrk (closed-loop throughput; autocannon when wrk is missing) and
// latprobe (even 1,000 req/s latency).

import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { run } from './children.ts';

export interface ThroughputRun {
  readonly tool: 'wrk' | 'autocannon';
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  /** Socket errors (connect/read/write/timeout) and responses that were not 2xx. */
  readonly errors: number;
  readonly non2xx: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface LatencyRun {
  readonly samples: number;
  readonly sent: number;
  readonly skipped: number;
  readonly errors: number;
  readonly non200: number;
  readonly unanswered: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
}

export const WRK = '/usr/bin/wrk';

// wrk's summary as one JSON line; a done() hook costs nothing per request (a response() hook would).
const WRK_REPORT = `done = function(s, lat, req)
  io.write(string.format('{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\\n',
    s.requests, s.duration, s.errors.connect, s.errors.read, s.errors.write, s.errors.status, s.errors.timeout, lat:percentile(50), lat:percentile(99)))
end
`;

export class LoadGenerator {
  readonly tool: 'wrk' | 'autocannon';
  readonly #cpu: number | undefined;
  readonly #connections: number;
  readonly #script: string;

  constructor(options: { tempDir: string; cpu: number | undefined; connections: number; forceAutocannon: boolean }) {
    this.tool = existsSync(WRK) && !options.forceAutocannon ? 'wrk' : 'autocannon';
    this.#cpu = options.cpu;
    this.#connections = options.connections;
    this.#script = join(options.tempDir, 'wrk-report.lua');
    writeFileSync(this.#script, WRK_REPORT);
  }

  get description(): string {
    return this.tool === 'wrk' ? `wrk -t1 -c${this.#connections}` : `autocannon -c ${this.#connections}`;
  }

  /** One closed-loop run of `seconds` against a URL. */
  async throughput(url: string, seconds: number): Promise<ThroughputRun> {
    return this.tool === 'wrk' ? this.#wrk(url, seconds) : this.#autocannon(url, seconds);
  }

  async #wrk(url: string, seconds: number): Promise<ThroughputRun> {
    const r = await run('wrk', WRK, ['-t1', `-c${this.#connections}`, `-d${seconds}s`, '-s', this.#script, url], { cpu: this.#cpu });
    const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
    if (r.code !== 0 || line === undefined) throw new Error(`wrk failed (${r.code}):\n${r.output}`);
    const j = JSON.parse(line) as Record<string, number>;
    const n = (k: string): number => j[k] ?? 0;
    return {
      tool: 'wrk',
      requests: n('requests'),
      seconds: n('duration_us') / 1e6,
      rps: n('requests') / (n('duration_us') / 1e6),
      errors: n('connect') + n('read') + n('write') + n('timeout'),
      // wrk counts status >= 400 here; the backend only ever answers 200, so a 3xx cannot occur.
      non2xx: n('status'),
      p50Ms: n('p50_us') / 1000,
      p99Ms: n('p99_us') / 1000,
    };
  }

  async #autocannon(url: string, seconds: number): Promise<ThroughputRun> {
    // Its bin script, run by this Node (npm's `node` is 24; a bare `npx autocannon` might not be).
    const bin = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
    const r = await run('autocannon', process.execPath, [bin, '-c', String(this.#connections), '-d', String(seconds), '-j', url], {
      cpu: this.#cpu,
    });
    if (r.code !== 0) throw new Error(`autocannon failed (${r.code}):\n${r.output}`);
    const j = JSON.parse(r.stdout) as {
      duration: number;
      errors: number;
      timeouts: number;
      non2xx: number;
      '2xx': number;
      latency: { p50: number; p99: number };
    };
    const requests = j['2xx'] + j.non2xx;
    return {
      tool: 'autocannon',
      requests,
      seconds: j.duration,
      rps: requests / j.duration,
      errors: j.errors + j.timeouts,
      non2xx: j.non2xx,
      p50Ms: j.latency.p50,
      p99Ms: j.latency.p99,
    };
  }

  /** The even-rate probe: `rate` req/s over `conns` keep-alive connections for `seconds` after `warmup`. */
  async latency(port: number, opts: { rate: number; seconds: number; conns: number; warmup: number }): Promise<LatencyRun> {
    const script = new URL('./latprobe.ts', import.meta.url).pathname;
    const args = [
      script,
      '--port',
      String(port),
      '--rate',
      String(opts.rate),
      '--seconds',
      String(opts.seconds),
      '--conns',
      String(opts.conns),
      '--warmup',
      String(opts.warmup),
    ];
    const r = await run('latprobe', process.execPath, args, { cpu: this.#cpu });
    const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
    if (r.code !== 0 || line === undefined) throw new Error(`latprobe failed (${r.code}):\n${r.output}`);
    return JSON.parse(line) as LatencyRun;
  }
}
