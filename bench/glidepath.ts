// Starts glidepath the way an operator would: the real CLI as a child process, a static
// endpoints file naming the bench backend, readiness from the admin /readyz. With `rollout`, the
// same app mid-rollout instead (bench/glidepath-rollout.ts): two versions at 9500/500 and the
// rollout analysis observing every request.

import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { start, waitForHttp, type Child } from './children.ts';
import { unusedPort } from '../testkit/wait.ts';

const ROOT = new URL('..', import.meta.url).pathname;

/**
 * A committed revision of glidepath in the temp dir (git archive of src/ and package.json, the
 * checkout's node_modules linked in): others edit this checkout while the bench runs, so
 * `--ref` measures a fixed commit instead of whatever the working tree holds at that moment.
 */
export function exportRevision(ref: string, tempDir: string): { root: string; commit: string } {
  const commit = execFileSync('git', ['rev-parse', '--verify', `${ref}^{commit}`], { cwd: ROOT, encoding: 'utf8' }).trim();
  const root = join(tempDir, `glidepath-${commit.slice(0, 12)}`);
  mkdirSync(root);
  const tar = join(tempDir, 'glidepath.tar');
  execFileSync('git', ['archive', '--format=tar', '-o', tar, commit, 'src', 'package.json'], { cwd: ROOT });
  execFileSync('tar', ['-xf', tar, '-C', root]);
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  return { root, commit };
}

export interface GlidepathTarget {
  readonly child: Child;
  readonly port: number;
  readonly adminPort: number;
}

/** A rollout in progress: canary v2 (revision 2) at this weight, stable v1 the rest. */
export interface RolloutOptions {
  /** Basis points (500 = 5 %). */
  readonly canaryWeight: number;
  /** A second address of the same backend process (backend.ts ALSO_HOST) for the canary's pod. */
  readonly canaryHost: string;
  /** Where the child writes the analysis's final evidence when stopped. */
  readonly evidenceFile: string;
  /** What observes the outcomes: the rollout analysis, a do-nothing observer, or none (the split alone). */
  readonly observer: 'analysis' | 'noop' | 'none';
}

export async function startGlidepath(options: {
  tempDir: string;
  backendPort: number;
  cpu: number | undefined;
  root?: string | undefined;
  profileFile?: string | undefined;
  rollout?: RolloutOptions | undefined;
}): Promise<GlidepathTarget> {
  const root = options.root ?? ROOT;
  const r = options.rollout;
  const name = r === undefined ? 'glidepath' : 'glidepath-rollout';
  const endpoints = join(options.tempDir, `${name}-endpoints.yaml`);
  // One pod per version, both the one backend process: the same upstream capacity as the
  // single-version run, and each version's pick is among one pod as there.
  writeFileSync(
    endpoints,
    r === undefined
      ? `versions:\n  - { name: v1, revision: 1, weight: 10000 }\nendpoints:\n  - { address: "127.0.0.1:${options.backendPort}", version: v1 }\n`
      : `versions:\n  - { name: v1, revision: 1, weight: ${10000 - r.canaryWeight} }\n  - { name: v2, revision: 2, weight: ${r.canaryWeight} }\nendpoints:\n` +
          `  - { address: "127.0.0.1:${options.backendPort}", version: v1 }\n  - { address: "${r.canaryHost}:${options.backendPort}", version: v2 }\n`,
  );
  const port = await unusedPort();
  let adminPort = await unusedPort();
  while (adminPort === port) adminPort = await unusedPort();
  // GLIDEPATH_* from the caller's shell would override defaults; the bench measures the defaults.
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('GLIDEPATH_') && k !== 'NODE_OPTIONS'),
  );
  // The one exception: no 5 s shutdown drain (off the request path), so SIGTERM ends it at once
  // and --cpu-prof gets written before the bench's grace period runs out.
  env.GLIDEPATH_SHUTDOWN_DRAIN_DELAY = '0s';
  // The profile is written when the process exits cleanly (the bench stops it with SIGTERM).
  const profile =
    options.profileFile === undefined
      ? []
      : ['--cpu-prof', '--cpu-prof-dir', dirname(options.profileFile), '--cpu-prof-name', basename(options.profileFile)];
  const serveArgs = ['--endpoints', endpoints, '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${adminPort}`, '--log-level', 'warn'];
  const entry =
    r === undefined
      ? [join(root, 'src/cli/main.ts'), 'serve']
      : [
          new URL('./glidepath-rollout.ts', import.meta.url).pathname,
          '--root',
          root,
          '--canary',
          'v2',
          '--stable',
          'v1',
          '--evidence-out',
          r.evidenceFile,
          '--observer',
          r.observer,
        ];
  const child = start(name, process.execPath, [...profile, ...entry, ...serveArgs], { cpu: options.cpu, env, cwd: root });
  await waitForHttp(child, `http://127.0.0.1:${adminPort}/readyz`);
  return { child, port, adminPort };
}

/** glidepath's own counters, to cross-check the load generators (no 5xx, no rejections). */
export async function glidepathStatus(adminPort: number): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/status`);
  return res.json();
}
