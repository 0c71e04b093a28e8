// A bad rollout end to end (issue 8 §8), shared by the e2e-bad-*.test.ts files: a bad template goes
// out under steady load, glidepath cuts the canary, rolls the Deployment back with a Warning Event
// and an abort record, and the clients see failures on under 0.1 % of the rollout's requests.

import type { Test } from 'tap';
import type { AbortReason } from '../../src/rollout/evidence.ts';
import { ABORT_ANNOTATION } from '../../src/rollout/actions/types.ts';
import { ledgerFigures, rolloutWorld, steadyLoad, windowFigures, type RolloutWorld } from './e2e-harness.ts';
import { sleep, waitFor } from '../../testkit/wait.ts';
import type { LoadOptions } from '../../testkit/ledger.ts';

/** Fast steps, as the good rollout uses; the abort path has no knob of its own. */
export const FAST_ROLLOUT = { 'rollout.minStepDuration': '1s', 'rollout.minStepRequests': 40 };

export interface BadRolloutCase {
  /** The bad template's env (`kubectl set env`). */
  readonly env: Record<string, string>;
  /**
   * The abort reasons this failure may be caught by: a canary failing 30 % crosses the ratio test
   * (against stable) and the absolute-rate test (against the budget) within a request or two of
   * each other, and either is the analysis naming the failure correctly.
   */
  readonly reasons: readonly AbortReason[];
  /** Put the same bad template back afterwards: it must be held, get no traffic, and be rolled back again. */
  readonly reapply?: boolean;
  readonly rate?: number;
  /** Load options beyond the default mix (20 % POST). */
  readonly load?: Partial<LoadOptions>;
}

/** What the README reports per scenario. */
export interface BadRolloutFigures {
  readonly reason: string;
  readonly cutMs: number | null;
  /** Requests started between the template change and the later of the rollback's end (old pods alone again) and the 1000th request. */
  readonly rolloutRequests: number;
  readonly clientFailures: number;
  /** From the template change (`kubectl set env` returned) to canary weight 0, and to the template restored. */
  readonly templateToCutMs: number;
  readonly templateToRollbackMs: number;
  /** From step 0 in force (the canary's first traffic) to the cut; null when the canary never had traffic. */
  readonly canaryTrafficToCutMs: number | null;
  readonly canaryAttempts: { requests: number; failures: number } | null;
}

const envOf = (d: Awaited<ReturnType<RolloutWorld['deployment']>>): Record<string, string> =>
  Object.fromEntries((d.spec.template.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]));

/** The Deployment carries the stable template again and only its pods run, all ready. */
async function rolledBack(world: RolloutWorld, stable: string, bad: string): Promise<boolean> {
  const env = envOf(await world.deployment());
  if (env.APP_VERSION !== 'v1' || env.FAIL_RATE !== undefined || env.LATENCY_MS !== undefined || env.CRASH_AFTER !== undefined)
    return false;
  const sets = await world.replicaSets();
  const s = sets.find((r) => r.hash === stable);
  const b = sets.find((r) => r.hash === bad);
  return s !== undefined && s.replicas === 4 && s.readyReplicas === 4 && (b === undefined || (b.replicas === 0 && b.statusReplicas === 0));
}

export async function badRollout(t: Test, c: BadRolloutCase): Promise<BadRolloutFigures> {
  const world = await rolloutWorld(t, { flags: FAST_ROLLOUT });
  const load = steadyLoad(world.url, c.rate ?? 150, c.load);
  await sleep(1000);
  const before = await world.status();
  t.equal(before.rollout?.phase, 'idle', 'no rollout before the template changes');
  const stable = before.rollout?.stable as string;
  t.ok(stable, 'the stable version is known');

  await world.setEnv(c.env);
  const t0 = Date.now();
  const aborted = await waitFor(
    'the rollout aborted',
    async () => {
      const s = await world.status();
      return s.rollout?.phase === 'aborted' ? s : undefined;
    },
    90_000,
    100,
  );
  const r = aborted.rollout;
  const canary = r?.canary as string;
  t.equal(canary, await world.hashOf(2), 'the aborted canary is the revision-2 ReplicaSet');
  const reason = r?.abort?.reason as AbortReason;
  t.ok(c.reasons.includes(reason), `aborted for ${c.reasons.join(' or ')}: ${reason}: ${r?.abort?.message}`);
  t.equal(r?.weights[canary] ?? 0, 0, 'the canary gets no traffic');
  t.equal(r?.weights[stable], 10_000, 'stable serves everything');
  const analysisDecided = reason !== 'unhealthy-pods' && reason !== 'manual';
  if (analysisDecided) {
    t.ok(
      r?.abort?.cutMs !== null && r?.abort?.cutMs !== undefined && r.abort.cutMs <= 100,
      `the in-process cut within 100 ms of the deciding request (${r?.abort?.cutMs} ms)`,
    );
  }
  // The cut is the analysis' synchronous callback (its log line), or for a cluster-side reason the
  // decision that set the weights.
  const cutLine =
    glidepathLine(world, (l) => l.msg === 'abort: canary weight set to 0') ?? glidepathLine(world, (l) => l.obj.decision === 'abort');
  // Step 0 in force: the canary's first traffic (a canary that never became ready has none).
  const stepLine = glidepathLine(world, (l) => l.obj.decision === 'step');
  t.ok(cutLine, 'the abort is logged');

  await waitFor('the Deployment rolled back and the old pods alone', () => rolledBack(world, stable, canary), 60_000, 200);
  const tDone = Date.now();
  const after = await world.status();
  const rollback = after.rollout?.actions.find((a) => a.kind === 'rollback');
  t.ok(rollback !== undefined && rollback.succeeded >= 1 && rollback.lastSuccessAt !== null, 'the rollback action succeeded');
  const dep = await world.deployment();
  t.notOk(dep.spec.paused, 'the Deployment is unpaused after the rollback');
  t.equal(await world.hashOf(3), stable, 'the stable ReplicaSet is re-adopted as revision 3, as `kubectl rollout undo` does');

  const events = await world.events();
  const warning = events.find((e) => e.type === 'Warning' && e.reason === 'RolloutAborted');
  t.ok(warning, 'a Warning Event RolloutAborted on the Deployment');
  t.match(warning?.message ?? '', `(${reason})`, 'the Event names the reason');
  const record = JSON.parse(dep.metadata.annotations?.[ABORT_ANNOTATION] ?? 'null') as {
    reason: string;
    canary: string;
    stable: string;
    action: string;
  } | null;
  t.match(record, { reason, canary, stable, action: 'rollback' }, 'the glidepath.io/abort annotation records the abort');
  const state = await world.savedState();
  t.equal(state?.phase, 'aborted', 'the saved state says aborted');
  t.ok(state?.abortedTemplates.includes(canary), 'the bad template is remembered (abortedTemplates)');

  // The budget is a share of at least 1/ε = 1000 requests (the guard judges from there on: below
  // it one unavoidable failure, a POST the canary failed before the abort, is over 0.1 % of
  // anything). A quick abort and rollback can be over in fewer, so the rollout's requests run from
  // the template change to the later of the rollback's end and the 1000th request.
  const tBudget = await waitFor(
    '1000 requests since the template change',
    () => {
      const w = windowFigures(load.ledger, t0);
      return w.sent >= 1000 ? Date.now() : undefined;
    },
    90_000,
    100,
  );
  const tWindow = Math.max(tDone, tBudget);

  if (c.reapply === true) await reapply(t, world, c, stable, canary, load.ledger);

  await sleep(500);
  const ledger = await load.stop();
  const all = ledgerFigures(ledger, world.podLedger());
  const win = windowFigures(ledger, t0, tWindow);
  const figures: BadRolloutFigures = {
    reason: r?.abort?.reason ?? '',
    cutMs: r?.abort?.cutMs ?? null,
    rolloutRequests: win.sent,
    clientFailures: win.failed,
    templateToCutMs: (cutLine?.at ?? NaN) - t0,
    templateToRollbackMs: (rollback?.lastSuccessAt ?? NaN) - t0,
    canaryTrafficToCutMs: stepLine === undefined ? null : (cutLine?.at ?? NaN) - stepLine.at,
    canaryAttempts:
      (cutLine?.obj.evidence as { canaryAttempts?: { requests: number; failures: number } } | null | undefined)?.canaryAttempts ??
      r?.evidence?.canaryAttempts ??
      null,
  };
  t.comment(JSON.stringify({ figures, failures: win.failures, ledger: all.summary, byVersion: all.byVersion }));
  t.ok(win.sent >= 1000, `at least 1/ε requests in the rollout's window (${win.sent})`);
  t.ok(win.failed < 0.001 * win.sent, `client-visible failures under 0.1 % of the rollout's requests (${win.failed}/${win.sent})`);
  t.equal(all.lost, 0, 'no request was lost');
  t.equal(all.okWithoutPod, 0, 'every client success matches a pod record');
  return figures;
}

/** The aborted template comes back: held at weight 0, rolled back again, with a Warning Event. */
async function reapply(
  t: Test,
  world: RolloutWorld,
  c: BadRolloutCase,
  stable: string,
  canary: string,
  ledger: { records: Map<string, { startedAt: number; version: string; outcome: string }> },
): Promise<void> {
  const t1 = Date.now();
  await world.setEnv(c.env);
  const newest = await waitFor(
    'the bad template is back',
    async () => {
      const sets = await world.replicaSets();
      return sets.find((rs) => rs.revision === 4);
    },
    20_000,
    100,
  );
  t.equal(newest.hash, canary, 'the same template: Kubernetes re-adopts the aborted ReplicaSet as revision 4');
  const held = await waitFor(
    'glidepath holds it',
    async () => (await world.events()).find((e) => e.type === 'Warning' && e.reason === 'RolloutHeld'),
    20_000,
    200,
  );
  t.ok(held, 'a Warning Event RolloutHeld: the template is not rolled out again');
  await waitFor('rolled back again', () => rolledBack(world, stable, canary), 60_000, 200);
  const s = await world.status();
  t.equal(s.rollout?.phase, 'aborted', 'the rollout stays aborted');
  t.equal(s.rollout?.weights[canary] ?? 0, 0, 'the held template gets no traffic');
  let served = 0;
  let failed = 0;
  for (const r of ledger.records.values()) {
    if (r.startedAt < t1) continue;
    if (r.version === 'v2') served++;
    if (r.outcome !== 'ok' && r.outcome !== 'lost') failed++;
  }
  t.equal(served, 0, 'no request after the re-apply was answered by the bad version');
  t.equal(failed, 0, 'no request after the re-apply failed');
}

function glidepathLine(world: RolloutWorld, match: (l: RolloutWorld['logs'][number]) => boolean): RolloutWorld['logs'][number] | undefined {
  return world.logs.find(match);
}
