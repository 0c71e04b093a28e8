// One container of a simulated pod as a real child process (the bundled demo app, whatever the
// image), with its output kept for `kubectl logs` and its exit reported like a container runtime's.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

const GUARD = fileURLToPath(new URL('./guard.ts', import.meta.url));
/** Every image runs the demo app: the one program behind all fake pods (src/demo). */
const DEMO_MAIN = fileURLToPath(new URL('../../../src/demo/main.ts', import.meta.url));
const LOG_LIMIT = 512 * 1024;

/** Output of one container instance, bounded, with followers for `kubectl logs -f`. */
export class LogBuffer {
  #text = '';
  readonly #followers = new Set<{ data: (chunk: string) => void; end: () => void }>();
  #ended = false;

  append(chunk: string): void {
    this.#text += chunk;
    if (this.#text.length > LOG_LIMIT) this.#text = this.#text.slice(this.#text.length - LOG_LIMIT);
    for (const f of this.#followers) f.data(chunk);
  }

  get text(): string {
    return this.#text;
  }

  end(): void {
    this.#ended = true;
    for (const f of this.#followers) f.end();
    this.#followers.clear();
  }

  follow(data: (chunk: string) => void, end: () => void): () => void {
    if (this.#ended) {
      end();
      return () => {};
    }
    const f = { data, end };
    this.#followers.add(f);
    return () => this.#followers.delete(f);
  }
}

export interface ExitInfo {
  exitCode: number;
  signal: string | undefined;
  at: number;
}

export class ContainerProcess {
  readonly id = `containerd://${randomBytes(32).toString('hex')}`;
  readonly startedAt = Date.now();
  readonly logs = new LogBuffer();
  readonly exited: Promise<ExitInfo>;
  readonly #child: ChildProcess;
  #exit: ExitInfo | undefined;

  constructor(env: Record<string, string>) {
    this.#child = spawn(process.execPath, ['--import', GUARD, DEMO_MAIN], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    this.#child.stdout?.setEncoding('utf8').on('data', (c: string) => this.logs.append(c));
    this.#child.stderr?.setEncoding('utf8').on('data', (c: string) => this.logs.append(c));
    this.#child.channel?.unref();
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.#exit) return;
        // A container killed by a signal reports 128 + the signal number, as the runtime does.
        const exitCode = code ?? 128 + (signal ? (constants.signals[signal] ?? 9) : 9);
        this.#exit = { exitCode, signal: signal ?? undefined, at: Date.now() };
        this.logs.end();
        resolve(this.#exit);
      };
      this.#child.once('exit', done);
      this.#child.once('error', (err) => {
        this.logs.append(`failed to start container: ${err.message}\n`);
        done(128, null);
      });
    });
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.#exit === undefined) this.#child.kill(sig);
  }
}
