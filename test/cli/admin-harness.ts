// For the admin command tests: the real CLI as a child process, and a real glidepath in this
// process (static endpoints file, demo pods as child processes) with a chosen token and actions.

import type { Test } from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';
import { startApp, type App } from '../../src/app.ts';
import type { AdminAction } from '../../src/admin/server.ts';
import { silentLogger } from '../../src/core/log.ts';
import { startPod, type Pod } from '../../testkit/pods.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
export const dir = mkdtempSync(join(tmpdir(), 'glidepath-cli-admin-'));
export const TOKEN = 'tok-7d3f9a2c1b';

// The test's own environment must not leak a token or an admin URL into the commands.
const { GLIDEPATH_ADMIN_TOKEN: _token, GLIDEPATH_ADMIN_URL: _url, ...baseEnv } = process.env;

export interface Run {
  code: number | null;
  out: string;
  err: string;
  ms: number;
}

/** Runs the CLI without blocking this process, which hosts the glidepath it talks to. */
export function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...baseEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err, ms: Date.now() - started });
    });
  });
}

/** Two demo pods, v1 and v2, stopped when the test file ends. */
export async function startDemoPods(t: Test): Promise<Pod[]> {
  const pods = await Promise.all([startPod({ APP_VERSION: 'v1' }), startPod({ APP_VERSION: 'v2' })]);
  t.teardown(() => Promise.all(pods.map((p) => p.stop())));
  return pods;
}

let seq = 0;
/** glidepath in this process: v1 at 90 %, v2 at 10 %, admin.token as given, stopped with `t`. */
export async function glidepath(
  t: Test,
  pods: readonly Pod[],
  options: { token: string; actions?: Record<string, AdminAction> },
): Promise<{ app: App; adminUrl: string; proxyUrl: string }> {
  const file = join(dir, `endpoints-${++seq}.yaml`);
  writeFileSync(
    file,
    stringify({
      versions: [
        { name: 'v1', revision: 1, weight: 9000 },
        { name: 'v2', revision: 2, weight: 1000 },
      ],
      endpoints: pods.map((p) => ({ address: p.address, version: p.version })),
    }),
  );
  const config = loadConfig({
    flags: {
      listen: '127.0.0.1:0',
      'admin.listen': '127.0.0.1:0',
      'endpoints.file': file,
      'admin.token': options.token,
      'shutdown.drainDelay': '0s',
      'shutdown.gracePeriod': '2s',
    },
  });
  const app = await startApp(config, { logger: silentLogger, ...(options.actions ? { actions: options.actions } : {}) });
  t.teardown(() => app.stop());
  return { app, adminUrl: `http://127.0.0.1:${app.adminAddress.port}`, proxyUrl: `http://127.0.0.1:${app.proxyAddress.port}` };
}
