// The even-rate latency probe (run as its own process), because
// autocannon's rate mode sends bursts, this sends one request per tick over N keep-alive
// connections and times each from write to full response in µs. Prints one JSON line.
// Usage: latprobe.ts --port P [--rate 1000] [--seconds 8] [--conns 10] [--warmup 1]

import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '8' },
    conns: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
  },
});
const port = Number(values.port);
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const nconns = Number(values.conns);
const warmup = Number(values.warmup);

const request = Buffer.from(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: latprobe\r\nAccept: */*\r\n\r\n`);
const samples = new Float64Array(Math.ceil(rate * seconds * 1.1) + 16);
let count = 0;
let sent = 0;
let skipped = 0;
let errors = 0;
let non200 = 0;
const t0 = process.hrtime.bigint();
const measureFrom = t0 + BigInt(Math.round(warmup * 1e9));
const end = measureFrom + BigInt(Math.round(seconds * 1e9));

class Conn {
  readonly sock: net.Socket;
  busy = false;
  dead = false;
  sentAt = 0n;
  buf: Buffer | null = null;

  constructor() {
    this.sock = net.connect({ port, host: '127.0.0.1', noDelay: true });
    this.sock.on('data', (d: Buffer) => this.onData(d));
    this.sock.on('error', () => this.fail());
    // A proxy closing a keep-alive connection mid-run is an error for this probe.
    this.sock.on('close', () => this.fail());
  }

  send(): void {
    this.busy = true;
    this.buf = null;
    this.sentAt = process.hrtime.bigint();
    this.sock.write(request);
    sent++;
  }

  fail(): void {
    if (this.dead || finished) return;
    this.dead = true;
    errors++;
  }

  onData(d: Buffer): void {
    this.buf = this.buf === null ? d : Buffer.concat([this.buf, d]);
    const headEnd = this.buf.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = this.buf.toString('latin1', 0, headEnd);
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    // Every target answers with content-length (the backend sets it); anything else counts as an error.
    if (m === null) {
      errors++;
      this.sock.destroy();
      return;
    }
    if (this.buf.length < headEnd + 4 + Number(m[1])) return;
    const now = process.hrtime.bigint();
    if (!head.startsWith('HTTP/1.1 200 ')) non200++;
    if (this.sentAt >= measureFrom && this.sentAt < end) samples[count++] = Number(now - this.sentAt) / 1000;
    this.busy = false;
    this.buf = null;
  }
}

let finished = false;
const conns = Array.from({ length: nconns }, () => new Conn());
const interval = BigInt(Math.round(1e9 / rate));
// Connections get 200 ms to open before the first tick.
let next = process.hrtime.bigint() + 200_000_000n;
let rr = 0;
const timer = setInterval(() => {
  const now = process.hrtime.bigint();
  if (now >= end) {
    clearInterval(timer);
    // Let the last requests finish before counting.
    setTimeout(finish, 200);
    return;
  }
  while (next <= now) {
    let c: Conn | undefined;
    for (let i = 0; i < nconns; i++) {
      const k = (rr + i) % nconns;
      const candidate = conns[k] as Conn;
      if (!candidate.busy && !candidate.dead) {
        c = candidate;
        rr = k + 1;
        break;
      }
    }
    // Every connection still waiting means a stall over conns/rate (10 ms by default).
    if (c !== undefined) c.send();
    else if (next >= measureFrom) skipped++;
    next += interval;
  }
}, 1);

function pct(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? NaN : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number);
}

function finish(): void {
  finished = true;
  const lat = samples.subarray(0, count).sort();
  const unanswered = conns.filter((c) => c.busy && !c.dead).length;
  const round = (x: number): number => Math.round(x * 10) / 10;
  const mean = lat.reduce((s, x) => s + x, 0) / (lat.length || 1);
  console.log(
    JSON.stringify({
      port,
      rate,
      seconds,
      conns: nconns,
      sent,
      samples: lat.length,
      achievedRps: round(lat.length / seconds),
      skipped,
      errors,
      non200,
      unanswered,
      meanUs: round(mean),
      p50Us: round(pct(lat, 50)),
      p90Us: round(pct(lat, 90)),
      p99Us: round(pct(lat, 99)),
      p999Us: round(pct(lat, 99.9)),
      maxUs: round(lat[lat.length - 1] ?? NaN),
    }),
  );
  for (const c of conns) c.sock.destroy();
}
