// Fake pods for tests: the demo app as real child processes on loopback, with fault switches
// (env at start, POST /__pod/config at run time) and a ledger file that survives SIGKILL.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Behaviour, LedgerEntry } from '../src/demo/app.ts';

const DEMO_MAIN = fileURLToPath(new URL('../src/demo/main.ts', import.meta.url));

export interface PodEnv {
  APP_VERSION?: string;
  POD_NAME?: string;
  HOST?: string;
  PORT?: string;
  FAIL_RATE?: string;
  FAIL_STATUS?: string;
  FAIL_METHODS?: string;
  LATENCY_MS?: string;
  HANG?: string;
  CRASH_AFTER?: string;
  READY_DELAY_MS?: string;
  ON_SIGTERM?: 'drain' | 'exit';
  DRAIN_MS?: string;
  KEEPALIVE_TIMEOUT_MS?: string;
  IDLE_CLOSE_MS?: string;
}

export interface Pod {
  readonly host: string;
  readonly port: number;
  /** host:port, as written in an endpoints file. */
  readonly address: string;
  readonly version: string;
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal) once the process is gone. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
  configure(behaviour: Partial<Behaviour>): Promise<void>;
  /** Every ledger line written so far (recv, done, aborted). */
  ledger(): LedgerEntry[];
  kill(signal?: NodeJS.Signals): void;
  /** SIGKILL if still running; waits for exit. */
  stop(): Promise<void>;
}

let counter = 0;
const live = new Set<ChildProcess>();
// A test file that ends (or fails) without stopping its pods must not leave them running.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export async function startPod(env: PodEnv = {}): Promise<Pod> {
  const dir = mkdtempSync(join(tmpdir(), 'glidepath-pod-'));
  const ledgerFile = join(dir, 'ledger.jsonl');
  const name = env.POD_NAME ?? `pod-${process.pid}-${++counter}`;
  const version = env.APP_VERSION ?? 'v1';
  const child = spawn(process.execPath, [DEMO_MAIN], {
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: '0',
      ...env,
      APP_VERSION: version,
      POD_NAME: name,
      LEDGER_FILE: ledgerFile,
      EXIT_WITH_PARENT: '1',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString();
      const line = buf.split('\n').find((l) => l.includes('demo app listening'));
      if (line) {
        child.stdout?.off('data', onData);
        resolve((JSON.parse(line) as { address: { port: number } }).address.port);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`pod ${name} exited before listening (code ${code})`)));
  });
  child.stdout?.resume();
  const host = env.HOST ?? '127.0.0.1';
  return {
    host,
    port,
    address: `${host}:${port}`,
    version,
    name,
    child,
    exited,
    async configure(behaviour) {
      const res = await fetch(`http://${host}:${port}/__pod/config`, { method: 'POST', body: JSON.stringify(behaviour) });
      if (res.status !== 200) throw new Error(`pod configure failed: ${res.status}`);
      await res.text();
    },
    ledger() {
      return readPodLedger(ledgerFile);
    },
    kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Starts several pods at once. */
/** The lines a demo pod (or several, sharing one LEDGER_FILE) wrote; none before the first. */
export function readPodLedger(ledgerFile: string): LedgerEntry[] {
  if (!existsSync(ledgerFile)) return [];
  return readFileSync(ledgerFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LedgerEntry);
}

export function startPods(count: number, env: PodEnv = {}): Promise<Pod[]> {
  return Promise.all(Array.from({ length: count }, () => startPod(env)));
}
