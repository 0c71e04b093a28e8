// Bench process bookkeeping: every process the bench starts is registered here, so that a normal
// end, Ctrl-C or a crash kills exactly those processes (never by name) and removes the temp dir.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from '../testkit/wait.ts';

export interface StartOptions {
  /** Pin to this CPU (via taskset, which execs: the pid we get is the real process). */
  readonly cpu?: number | undefined;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly proc: ChildProcess;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  /** The tail of stdout + stderr, for error messages. */
  output(): string;
}

const live = new Set<Child>();
/** Processes we did not spawn ourselves but own (nginx's worker), with their command name. */
const adopted = new Map<number, string>();
const tempDirs: string[] = [];
let stopping: Promise<void> | undefined;

export function makeTempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'glidepath-bench-'));
  tempDirs.push(dir);
  return dir;
}

export function adopt(pid: number, comm: string): void {
  adopted.set(pid, comm);
}

export function start(name: string, cmd: string, args: readonly string[], options: StartOptions = {}): Child {
  const [file, argv] = options.cpu === undefined ? [cmd, [...args]] : ['taskset', ['-c', String(options.cpu), cmd, ...args]];
  const proc = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env, cwd: options.cwd });
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${cmd}`);
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString()).slice(-8192);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | string>((resolve) => {
    proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1));
    proc.on('error', () => resolve(-1));
  });
  const child: Child = { name, pid: proc.pid, proc, exited, output: () => tail };
  live.add(child);
  void exited.then(() => live.delete(child));
  return child;
}

/** Runs a command to completion (a load generator), still killable by Ctrl-C meanwhile. */
export async function run(
  name: string,
  cmd: string,
  args: readonly string[],
  options: StartOptions = {},
): Promise<{ code: number | string; stdout: string; output: string }> {
  const child = start(name, cmd, args, options);
  let stdout = '';
  child.proc.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const code = await child.exited;
  return { code, stdout, output: child.output() };
}

/** Reads the first line a child prints (our scripts print their bound port as JSON). */
export function firstLine(child: Child, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${child.name}: no output within ${timeoutMs} ms\n${child.output()}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      child.proc.stdout?.off('data', onData);
      resolve(buf.slice(0, nl));
    };
    child.proc.stdout?.on('data', onData);
    void child.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${child.name} exited (${code}) before it was ready\n${child.output()}`));
    });
  });
}

/** Polls an HTTP URL until it answers 200 (or the child dies, or time runs out). */
export async function waitForHttp(child: Child, url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let dead = false;
  void child.exited.then(() => (dead = true));
  for (;;) {
    if (dead) throw new Error(`${child.name} exited before it was ready\n${child.output()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${child.name}: ${url} not ready within ${timeoutMs} ms\n${child.output()}`);
    await sleep(100);
  }
}

function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** True once cleanup began: failures of children we are killing are expected then. */
export function stoppingAll(): boolean {
  return stopping !== undefined;
}

/** SIGTERM first (glidepath writes its --cpu-prof on a clean exit; nginx stops its worker), SIGKILL after graceMs. */
export function stopAll(graceMs = 10_000): Promise<void> {
  stopping ??= (async () => {
    const children = [...live];
    for (const c of children) kill(c.pid, 'SIGTERM');
    await Promise.all(children.map((c) => Promise.race([c.exited, new Promise((r) => setTimeout(r, graceMs).unref())])));
    cleanupSync();
  })();
  return stopping;
}

/** Last resort, also run from process 'exit': nothing async is possible there. */
function cleanupSync(): void {
  for (const c of live) kill(c.pid, 'SIGKILL');
  // Only if the pid still names the same program: a pid freed by a clean exit may be reused.
  for (const [pid, comm] of adopted) if (commOf(pid) === comm) kill(pid, 'SIGKILL');
  adopted.clear();
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Ctrl-C, SIGTERM and process exit all end in cleanup; call once at startup. */
export function installCleanup(): void {
  process.on('exit', cleanupSync);
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping bench children...\n`);
      void stopAll(2_000).finally(() => process.exit(code));
    });
  }
}
