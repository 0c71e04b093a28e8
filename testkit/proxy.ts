// glidepath for tests: in process (fast, with access to its data plane) or as a real child
// process (for signals), always on loopback port 0 with its own endpoints file.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { loadConfig } from '../src/config/load.ts';
import { startApp, type App } from '../src/app.ts';
import { silentLogger } from '../src/core/log.ts';

const CLI_MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

export interface EndpointsDoc {
  versions: { name: string; revision: number; weight?: number }[];
  endpoints: { address: string; version: string; ready?: boolean; serving?: boolean; terminating?: boolean; name?: string }[];
}

export interface TestProxy {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly adminUrl: string;
  readonly endpointsFile: string;
  /** Atomically replaces the endpoints file (write + rename, as editors and ConfigMaps do). */
  writeEndpoints(doc: EndpointsDoc | string): void;
}

export interface InProcessProxy extends TestProxy {
  readonly app: App;
  stop(): Promise<void>;
}

let seq = 0;

function endpointsFileWith(doc: EndpointsDoc | string): { dir: string; file: string; write: (d: EndpointsDoc | string) => void } {
  const dir = mkdtempSync(join(tmpdir(), 'glidepath-test-'));
  const file = join(dir, 'endpoints.yaml');
  const write = (d: EndpointsDoc | string): void => {
    const tmp = join(dir, `.endpoints.${++seq}.tmp`);
    writeFileSync(tmp, typeof d === 'string' ? d : stringify(d));
    renameSync(tmp, file);
  };
  write(doc);
  return { dir, file, write };
}

/** Starts glidepath in this process. `flags` are config values by dotted path. */
export async function startProxy(doc: EndpointsDoc | string, flags: Record<string, unknown> = {}): Promise<InProcessProxy> {
  const { file, write } = endpointsFileWith(doc);
  // Tests stop in-process proxies without the production drain delay unless they ask for one.
  const config = loadConfig({
    flags: {
      listen: '127.0.0.1:0',
      'admin.listen': '127.0.0.1:0',
      'endpoints.file': file,
      'shutdown.drainDelay': '0s',
      'shutdown.gracePeriod': '2s',
      ...flags,
    },
  });
  const app = await startApp(config, { logger: silentLogger });
  return {
    app,
    url: `http://127.0.0.1:${app.proxyAddress.port}`,
    host: '127.0.0.1',
    port: app.proxyAddress.port,
    adminUrl: `http://127.0.0.1:${app.adminAddress.port}`,
    endpointsFile: file,
    writeEndpoints: write,
    stop: () => app.stop(),
  };
}

export interface ChildProxy extends TestProxy {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
  stop(): Promise<void>;
}

/** Starts `glidepath serve` as a child process; env carries GLIDEPATH_* settings. */
export async function spawnProxy(doc: EndpointsDoc | string, env: Record<string, string> = {}): Promise<ChildProxy> {
  const { file, write } = endpointsFileWith(doc);
  const child = spawn(process.execPath, [CLI_MAIN, 'serve', '--endpoints', file, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], {
    env: { ...process.env, GLIDEPATH_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  process.once('exit', () => child.kill('SIGKILL'));
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const addresses = await new Promise<{ proxy: number; admin: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`glidepath did not start:\n${out}`)), 15_000);
    const check = (): void => {
      const line = out.split('\n').find((l) => l.includes('"glidepath listening"'));
      if (!line) return;
      clearTimeout(timer);
      const parsed = JSON.parse(line) as { proxy: { port: number }; admin: { port: number } };
      resolve({ proxy: parsed.proxy.port, admin: parsed.admin.port });
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`glidepath exited with ${code}:\n${out}`));
    });
  });
  return {
    child,
    url: `http://127.0.0.1:${addresses.proxy}`,
    host: '127.0.0.1',
    port: addresses.proxy,
    adminUrl: `http://127.0.0.1:${addresses.admin}`,
    endpointsFile: file,
    writeEndpoints: write,
    output: () => out,
    exited,
    kill(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
