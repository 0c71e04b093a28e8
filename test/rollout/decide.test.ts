// decide() tick by tick with a fake clock: the steps of a gated rollout with Kubernetes moving pods
// between ticks, evidence-driven advance, holds on low traffic, every abort reason, the operator
// verbs, the budget block, the weight caps, observe mode, held templates, completion and resuming
// from the persisted state.

import t from 'tap';
import { Driver, evidence, eventReasons, ofType, pausedAfter, specWith, weightsOf, world, type RsInput } from './world.ts';
import { parseState, serializeState } from '../../src/rollout/state.ts';
import type { AbortReason } from '../../src/rollout/evidence.ts';
import type { Observation } from '../../src/rollout/observation.ts';

const S = 's1';
const C = 'c1';
const steady = (paused = false): Observation => world({ newest: S, paused, rs: { [S]: { revision: 1, ready: 4 } } });
/** The rollout of c1 (revision 2) over s1 (revision 1) with the given pods. */
const during = (
  stable: RsInput | number,
  canary: RsInput | number,
  paused: boolean,
  extra: Partial<Parameters<typeof world>[0]> = {},
): Observation =>
  world({
    newest: C,
    paused,
    ...extra,
    rs: {
      [S]: typeof stable === 'number' ? { revision: 1, ready: stable } : stable,
      [C]: typeof canary === 'number' ? { revision: 2, ready: canary } : canary,
    },
  });
/** Enough traffic that the budget affords every step (≈ 2,000 requests/s, 12 ms median). */
const healthy = evidence({ clientRequests: 50_000 });

/** A driver with s1 adopted as stable and the c1 rollout started, its first canary pod ready (step 0 in force). */
function started(flags: Record<string, unknown> = {}): Driver {
  const d = new Driver(specWith(flags));
  d.tick(steady());
  d.tick(during(4, { revision: 2, ready: 0, desired: 1 }, false));
  d.advance(2_000).tick(during(4, 1, d.spec.mode === 'gated'));
  return d;
}

t.test('steady state: the only ReplicaSet is adopted as stable and gets every request', async (t) => {
  const d = new Driver(specWith());
  const first = d.tick(steady());
  t.same(weightsOf(first), { [S]: 10_000 });
  t.equal(d.state.phase, 'idle');
  t.same(d.state.stable, { version: S, revision: 1 });
  t.equal(ofType(first, 'annotate').length, 1, 'the new state is persisted');
  t.same(d.advance(1_000).tick(steady()), [], 'nothing changes, nothing to do');
  t.same(ofType(d.tick(steady(true)), 'pauseDeployment'), [], 'a Deployment paused by its owner is left alone when no rollout runs');
});

t.test('a healthy gated rollout, step by step, with Kubernetes moving pods between ticks', async (t) => {
  const d = new Driver(specWith());
  d.tick(steady());

  // Kubernetes created the new ReplicaSet with one surge pod: pause at once, judge nothing yet.
  let a = d.advance(1_000).tick(during(4, { revision: 2, ready: 0, desired: 1 }, false));
  t.equal(d.state.phase, 'progressing');
  t.same(d.state.canary, { version: C, revision: 2 });
  t.equal(pausedAfter(a, false), true, 'gated: paused at once, the surge pod on its way');
  t.same(weightsOf(a), { [S]: 10_000, [C]: 0 }, 'no weight to a version with no ready pod');
  t.same(ofType(a, 'startAnalysis'), [{ type: 'startAnalysis', canary: C, stable: S }]);
  t.ok(eventReasons(a).includes('RolloutStarted'));

  // The canary pod is ready: step 0 (5 %) is in force and judged from now.
  a = d.advance(2_000).tick(during(4, 1, true));
  t.same(weightsOf(a), { [S]: 9_500, [C]: 500 });
  t.same(ofType(a, 'restartStep'), [{ type: 'restartStep', canary: C, stepIndex: 0 }]);
  t.same(ofType(a, 'pauseDeployment'), [], 'already paused');

  // Evidence is good, but the minimum dwell (5 s) is not over.
  a = d.advance(3_000).tick(during(4, 1, true), healthy);
  t.equal(d.state.stepIndex, 0, 'no advance before minStepDuration');

  // Dwell over, 200 canary requests, no sign of harm, budget fine: advance to 25 %.
  a = d.advance(3_000).tick(during(4, 1, true), healthy);
  t.equal(d.state.stepIndex, 1);
  t.ok(eventReasons(a).includes('RolloutStepAdvanced'));
  t.equal(pausedAfter(a, true), false, 'unpaused so Kubernetes brings the next batch');
  t.same(weightsOf(a), { [S]: 8_000, [C]: 2_000 }, '25 % capped by the canary share of ready pods (1 of 5)');

  // Kubernetes removed an old pod and added a new one (not ready yet): 1 of 4 ready is 25 %: pause.
  a = d.advance(1_500).tick(during({ revision: 1, ready: 3 }, { revision: 2, ready: 1, desired: 2 }, false));
  t.equal(pausedAfter(a, false), true, 'paused again once the ready pods reach the step share');
  t.same(weightsOf(a), { [S]: 7_500, [C]: 2_500 });
  t.ok(ofType(a, 'restartStep').length === 1, 'step 1 judged from now');

  // Second canary pod ready (2 of 5 = 40 %): the weight stays at the step's 25 %.
  a = d.advance(2_000).tick(during(3, 2, true), healthy);
  t.equal(weightsOf(a), undefined, 'weights unchanged');
  a = d.advance(4_000).tick(during(3, 2, true), healthy);
  t.equal(d.state.stepIndex, 2, 'advance to 50 %');
  t.same(weightsOf(a), { [S]: 6_000, [C]: 4_000 }, '50 % capped at the ready share 40 %');
  t.equal(pausedAfter(a, true), false);

  a = d.advance(1_500).tick(during({ revision: 1, ready: 1 }, { revision: 2, ready: 2, desired: 3 }, false));
  t.same(weightsOf(a), { [S]: 5_000, [C]: 5_000 });
  t.equal(pausedAfter(a, false), true);
  a = d.advance(6_000).tick(during(1, 3, true), healthy);
  t.equal(d.state.stepIndex, 3, 'advance to the final 100 % step');
  t.equal(pausedAfter(a, true), false, 'unpaused for Kubernetes to finish');
  t.same(weightsOf(a), { [S]: 2_500, [C]: 7_500 }, 'still capped by the ready share (3 of 4)');

  // Every old pod is gone: the canary is stable, serves everything, and the rollout is complete.
  a = d.advance(2_000).tick(world({ newest: C, rs: { [S]: { revision: 1, ready: 0 }, [C]: { revision: 2, ready: 4 } } }), healthy);
  t.equal(d.state.phase, 'completed');
  t.same(d.state.stable, { version: C, revision: 2 });
  t.same(weightsOf(a), { [C]: 10_000 });
  t.ok(eventReasons(a).includes('RolloutCompleted'));
  t.same(ofType(a, 'stopAnalysis').length, 1);
  t.same(ofType(a, 'pauseDeployment'), [], 'the Deployment is already unpaused, so `kubectl rollout status` finishes');
  t.equal(d.state.pausedDeployment, false);
  t.same(
    d.state.decisions.map((x) => x.kind),
    ['start', 'step', 'advance', 'step', 'advance', 'step', 'advance', 'complete'],
    'every decision is on record',
  );
  t.ok(d.state.decisions.find((x) => x.kind === 'advance')?.evidence?.step.requests === 200, 'with its evidence');
});

t.test('the weight never exceeds the ready share and never goes to a version with no ready pod', async (t) => {
  const d = started({ 'rollout.steps': [{ setWeight: 50 }] });
  t.same(d.state.weights, { [S]: 8_000, [C]: 2_000 }, '50 % asked, 1 canary pod of 5 ready: 20 %');
  let a = d.tick(during(4, { revision: 2, ready: 1, endpoints: 0 }, true));
  t.same(weightsOf(a), { [S]: 10_000, [C]: 0 }, 'its endpoint not ready (yet or any more): 0');
  a = d.tick(during({ revision: 1, ready: 2 }, { revision: 2, ready: 2 }, true));
  t.same(weightsOf(a), { [S]: 5_000, [C]: 5_000 }, 'a canary pod never carries more than a stable pod');
  a = d.tick(during({ revision: 1, ready: 1, endpoints: 0, desired: 1 }, { revision: 2, ready: 3 }, true));
  t.same(weightsOf(a), { [S]: 0, [C]: 10_000 }, 'no stable pod ready: the new version serves everything');
});

t.test('low traffic: pause at maxStepDuration and say how many more canary requests a verdict needs', async (t) => {
  const d = started();
  const thin = evidence({ stepRequests: 30, clientRequests: 50_000 });
  d.advance(60_000).tick(during(4, 1, true), thin);
  t.equal(d.state.phase, 'progressing', 'below maxStepDuration it just waits');
  const a = d.advance(240_000).tick(during(4, 1, true), thin);
  t.equal(d.state.phase, 'paused');
  t.equal(d.state.inconclusive, true);
  t.match(d.state.pausedReason, /^inconclusive: need ≈ 70 more canary requests \(≈ \d+ (s|min) at the current rate\)/);
  t.ok(eventReasons(a).includes('RolloutInconclusive'));
  t.equal(ofType(a, 'log').find((l) => l.decision === 'inconclusive')?.level, 'warn');
  t.same(ofType(d.advance(60_000).tick(during(4, 1, true), thin), 'recordEvent'), [], 'reported once, not every tick');

  // The requests arrive after all: the step advances on evidence, no one has to resume it.
  d.advance(10_000).tick(during(4, 1, true), evidence({ stepRequests: 120, clientRequests: 50_000 }));
  t.equal(d.state.stepIndex, 1);
  t.equal(d.state.phase, 'progressing');
  t.equal(d.state.inconclusive, false);
});

t.test('onInconclusive: advance goes on anyway at maxStepDuration', async (t) => {
  const d = started({ 'rollout.onInconclusive': 'advance', 'rollout.maxStepDuration': '1m' });
  d.advance(61_000).tick(during(4, 1, true), evidence({ stepRequests: 10, clientRequests: 50_000 }));
  t.equal(d.state.stepIndex, 1);
  t.match(d.state.decisions.at(-1)?.message, /advancing anyway/);
});

t.test('advance: proven waits for non-inferiority and reports requestsNeededToProve', async (t) => {
  const d = started({ 'rollout.advance': 'proven' });
  d.advance(30_000).tick(during(4, 1, true), evidence({ stepRequests: 900, requestsNeededToProve: 2_700, clientRequests: 50_000 }));
  t.equal(d.state.stepIndex, 0, '900 clean canary requests are not proof');
  d.advance(300_000).tick(during(4, 1, true), evidence({ stepRequests: 900, requestsNeededToProve: 2_700, clientRequests: 50_000 }));
  t.match(d.state.pausedReason, /need ≈ 2700 more canary requests/);
  d.advance(1_000).tick(during(4, 1, true), evidence({ stepRequests: 3_600, proven: true, clientRequests: 50_000 }));
  t.equal(d.state.stepIndex, 1, 'advances once proven');
  t.match(d.state.decisions.find((x) => x.kind === 'advance')?.message, /shown not worse/);
});

t.test('a sign of harm holds the step even with enough requests', async (t) => {
  const d = started();
  d.advance(10_000).tick(during(4, 1, true), evidence({ lnE: 3, clientRequests: 50_000 }));
  t.equal(d.state.stepIndex, 0, 'ln E past half of ln(2/α) ≈ 5.3: wait');
  d.advance(1_000).tick(during(4, 1, true), evidence({ lnE: 0.5, clientRequests: 50_000 }));
  t.equal(d.state.stepIndex, 1, 'the statistic fell back: advance');
});

t.test('the budget blocks a step whose worst case it cannot afford', async (t) => {
  const d = started();
  // 2,000 requests so far at 0.1 %: 2 failures affordable; the next step's worst case is ≥ 5.
  let a = d.advance(10_000).tick(during(4, 1, true), evidence({ clientRequests: 2_000 }));
  t.equal(d.state.stepIndex, 0);
  t.match(d.state.waitingFor, /^budget/);
  const blocked = ofType(a, 'log').find((l) => l.decision === 'blocked');
  t.match(blocked?.message, /at 25 % a broken canary could fail ≈ \d+ requests .* affords 2\.0 more/);
  a = d.advance(1_000).tick(during(4, 1, true), evidence({ clientRequests: 2_500 }));
  t.same(ofType(a, 'log'), [], 'the block is recorded once');
  d.advance(1_000).tick(during(4, 1, true), evidence({ clientRequests: 20_000 }));
  t.equal(d.state.stepIndex, 1, 'enough requests since the rollout began: the step can afford it');
  t.equal(d.state.waitingFor, null);
});

const reasons: AbortReason[] = ['failure-rate', 'absolute-rate', 'latency', 'budget'];
for (const reason of reasons) {
  t.test(`abort on the analysis' verdict: ${reason}`, async (t) => {
    const d = started();
    const a = d.advance(300).tick(during(4, 1, true), evidence({ abort: reason, canaryFailures: 3, lnE: 5.5, clientRequests: 50_000 }));
    t.same(a[0], { type: 'setWeights', weights: { [S]: 10_000, [C]: 0 } }, 'the canary weight goes to 0 first');
    t.same(
      ofType(a, 'rollback'),
      [{ type: 'rollback', to: { version: S, revision: 1 }, reason: ofType(a, 'rollback')[0]?.reason }],
      'then the stable template goes back',
    );
    t.ok(eventReasons(a).includes('RolloutAborted'));
    t.ok(a.findIndex((x) => x.type === 'annotate') > a.findIndex((x) => x.type === 'rollback'), 'the record follows the cut');
    t.equal(d.state.phase, 'aborted');
    t.equal(d.state.abort?.reason, reason);
    t.equal(d.state.abort?.evidence?.canary.failures, 3, 'with the evidence');
    t.same(d.state.abortedTemplates, [C]);
    t.equal(d.state.pausedDeployment, false, 'the rollback unpauses');
  });
}

t.test('abort when the budget broke even before the analysis says so', async (t) => {
  const d = started();
  d.advance(300).tick(during(4, 1, true), evidence({ clientRequests: 5_000, excessFailures: 6 }));
  t.equal(d.state.abort?.reason, 'budget');
  t.match(
    d.state.abort?.message,
    /6\.0 client-visible failures caused by the canary out of 5000 requests \(0\.120 % > 0\.10 %, more than the 0\.0 failures allowed as noise\)/,
  );
});

t.test('abort on unhealthy canary pods: crash loop, progress deadline', async (t) => {
  let d = started();
  d.advance(1_000).tick(during(4, { revision: 2, ready: 0, desired: 1, restarts: 3, crashLooping: 1 }, true));
  t.equal(d.state.abort?.reason, 'unhealthy-pods');
  t.match(d.state.abort?.message, /restarted 3 times.*1 pod\(s\) in CrashLoopBackOff/);
  d = started();
  d.advance(1_000).tick(during(4, { revision: 2, ready: 1, restarts: 2 }, true));
  t.equal(d.state.phase, 'progressing', 'below rollout.unhealthyPodRestarts');
  d.advance(1_000).tick(during(4, 1, false, { progressDeadlineExceeded: true }));
  t.equal(d.state.abort?.reason, 'unhealthy-pods');
  t.match(d.state.abort?.message, /progress deadline/);
});

t.test('manual abort; evidence about another pair never aborts this one', async (t) => {
  const d = started();
  d.advance(100).tick(during(4, 1, true), evidence({ canary: 'old-canary', abort: 'failure-rate' }));
  t.equal(d.state.phase, 'progressing', 'stale evidence is ignored');
  const a = d.advance(100).tick(during(4, 1, true), null, [{ verb: 'abort', by: 'alice' }]);
  t.equal(d.state.abort?.reason, 'manual');
  t.match(d.state.abort?.message, /aborted by alice/);
  t.same(a[0], { type: 'setWeights', weights: { [S]: 10_000, [C]: 0 } });
});

t.test('abort actions: pause and none; observe mode still runs the abort action', async (t) => {
  let d = started({ 'rollout.abortAction': 'pause', 'rollout.mode': 'observe' });
  let a = d.advance(100).tick(during(4, 1, false), evidence({ abort: 'latency' }));
  t.equal(ofType(a, 'pauseOnAbort').length, 1, 'pause is the abort action, even in observe mode');
  t.same(ofType(a, 'pauseDeployment'), [], 'observe mode: no gating pause');
  t.same(ofType(a, 'rollback'), []);
  a = d.advance(1_000).tick(during(4, 1, true));
  t.same(a, [], 'afterwards nothing repeats while the aborted template stays the newest');
  a = d.advance(1_000).tick(during(4, 1, true, { templateChanged: true }));
  t.same(a, [], 'observe mode leaves resuming a paused Deployment to its operator');

  d = started({ 'rollout.abortAction': 'pause' });
  a = d.advance(100).tick(during(4, 1, true), evidence({ abort: 'latency' }));
  t.equal(ofType(a, 'pauseOnAbort').length, 1);
  a = d.advance(1_000).tick(during(4, 1, true, { templateChanged: true }));
  t.same(
    ofType(a, 'pauseDeployment').map((x) => x.paused),
    [false],
    'gated: the paused Deployment lets a changed template through',
  );

  d = started({ 'rollout.abortAction': 'none' });
  a = d.advance(100).tick(during(4, 1, true), evidence({ abort: 'latency' }));
  t.same(ofType(a, 'rollback'), []);
  t.same(ofType(a, 'pauseDeployment'), [], 'gated: the Deployment stays paused where it is');
  t.same(weightsOf(a), { [S]: 10_000, [C]: 0 });
});

t.test('an aborted template is not rolled out again until the template changes', async (t) => {
  const d = started();
  d.advance(100).tick(during(4, 1, true), evidence({ abort: 'failure-rate' }));
  // The rollback landed: the stable ReplicaSet is newest again with a new revision.
  let a = d.advance(2_000).tick(world({ newest: S, rs: { [S]: { revision: 3, ready: 4 }, [C]: { revision: 2, ready: 0 } } }));
  t.same(d.state.stable, { version: S, revision: 3 });
  t.equal(d.state.phase, 'aborted', 'the last outcome stays on record');
  t.same(ofType(a, 'rollback'), []);

  // Someone applies the bad template again: Kubernetes makes its ReplicaSet newest (revision 4).
  const again = world({ newest: C, rs: { [S]: { revision: 3, ready: 4 }, [C]: { revision: 4, ready: 0, desired: 1 } } });
  a = d.advance(60_000).tick(again);
  t.equal(d.state.phase, 'aborted');
  t.same(d.state.held, { version: C, revision: 4 });
  t.same(d.state.weights, { [S]: 10_000, [C]: 0 }, 'held: no traffic');
  t.equal(ofType(a, 'rollback').length, 1, 'rolled back again');
  t.ok(eventReasons(a).includes('RolloutHeld'));
  t.match(ofType(a, 'recordEvent')[0]?.message, /was aborted before/);
  t.same(d.advance(1_000).tick(again), [], 'held once, not every tick');
  t.same(
    d.tick(again, null, [{ verb: 'promote' }]).map((x) => x.type),
    ['log'],
    'promote is refused',
  );

  // A new template: a new rollout.
  a = d.advance(60_000).tick(world({ newest: 'c2', rs: { [S]: { revision: 5, ready: 4 }, c2: { revision: 6, ready: 0, desired: 1 } } }));
  t.equal(d.state.phase, 'progressing');
  t.same(d.state.canary, { version: 'c2', revision: 6 });
  t.equal(d.state.abort, null);
});

t.test('with abortAction none in gated mode a returning aborted template is held paused', async (t) => {
  const d = started({ 'rollout.abortAction': 'none' });
  d.advance(100).tick(during(4, 1, true), evidence({ abort: 'failure-rate' }));
  // The operator changes the template: glidepath unpauses so Kubernetes creates its ReplicaSet.
  let a = d.advance(10_000).tick(during(4, 1, true, { templateChanged: true }));
  t.same(
    ofType(a, 'pauseDeployment').map((x) => x.paused),
    [false],
  );
  a = d.advance(1_000).tick(
    world({
      newest: 'c2',
      rs: { [S]: { revision: 1, ready: 4 }, [C]: { revision: 2, ready: 1 }, c2: { revision: 3, ready: 0, desired: 1 } },
    }),
  );
  t.equal(d.state.phase, 'progressing');
  t.same(d.state.canary, { version: 'c2', revision: 3 });
  t.equal(pausedAfter(a, false), true, 'gated again at once');
});

t.test('promote skips to 100 %; aborts still apply', async (t) => {
  const d = started();
  let a = d.advance(100).tick(during(4, 1, true), null, [{ verb: 'promote', by: 'bob' }]);
  t.equal(d.state.promoted, true);
  t.equal(d.state.stepIndex, 3);
  t.equal(pausedAfter(a, true), false, 'unpaused: Kubernetes rolls every pod');
  t.same(weightsOf(a), { [S]: 8_000, [C]: 2_000 }, 'as the ready pods allow');
  a = d.advance(2_000).tick(during({ revision: 1, ready: 1, desired: 1 }, 3, false));
  t.same(weightsOf(a), { [S]: 2_500, [C]: 7_500 });
  d.advance(2_000).tick(world({ newest: C, rs: { [S]: { revision: 1, ready: 0 }, [C]: { revision: 2, ready: 4 } } }));
  t.equal(d.state.phase, 'completed');

  const e = started();
  e.tick(during(4, 1, true), null, [{ verb: 'promote' }]);
  e.advance(500).tick(during(2, 2, false), evidence({ abort: 'failure-rate' }));
  t.equal(e.state.phase, 'aborted', 'a promoted canary is still aborted on evidence');
});

t.test('operator pause holds everything; resume continues; the pause survives a restart', async (t) => {
  const d = started();
  let a = d.advance(100).tick(during(4, 1, true), null, [{ verb: 'pause', by: 'carol' }]);
  t.equal(d.state.phase, 'paused');
  t.equal(d.state.operatorPaused, true);
  t.ok(eventReasons(a).includes('RolloutPaused'));
  d.advance(30_000).tick(during(4, 1, true), healthy);
  t.equal(d.state.stepIndex, 0, 'good evidence does not advance a paused rollout');
  a = d.advance(1_000).tick(during(4, 1, false), healthy);
  t.same(
    ofType(a, 'pauseDeployment').map((x) => x.paused),
    [true],
    'gated: kept paused even if someone resumed the Deployment',
  );

  // glidepath restarts: the state comes back from the annotation.
  const parsed = parseState(serializeState(d.state));
  t.equal(parsed.reason, null);
  const restarted = new Driver(d.spec, parsed.state ?? undefined);
  restarted.now = d.now + 5_000;
  restarted.tick(during(4, 1, true), healthy);
  t.equal(restarted.state.phase, 'paused', 'still paused after the restart');
  t.equal(restarted.state.stepIndex, 0);

  a = restarted.advance(1_000).tick(during(4, 1, true), healthy, [{ verb: 'resume', by: 'carol' }]);
  t.equal(restarted.state.phase, 'progressing');
  t.ok(eventReasons(a).includes('RolloutResumed'));
  restarted.advance(5_000).tick(during(4, 1, true), healthy);
  t.equal(restarted.state.stepIndex, 1, 'advances after the dwell restarts');
});

t.test('pause steps: a timed pause holds its weight; an indefinite one waits for resume', async (t) => {
  const d = started({ 'rollout.steps': [{ setWeight: 10 }, { pause: { duration: '30s' } }, { pause: {} }, { setWeight: 60 }] });
  d.advance(6_000).tick(during(4, 1, true), healthy);
  t.equal(d.state.stepIndex, 1, 'into the timed pause');
  t.equal(d.state.weights[C], 1_000, 'the weight stays at the last setWeight');
  d.advance(20_000).tick(during(4, 1, true), healthy);
  t.equal(d.state.stepIndex, 1);
  d.advance(11_000).tick(during(4, 1, true), healthy);
  t.equal(d.state.stepIndex, 2, 'after 30 s');
  d.advance(1_000).tick(during(4, 1, true), healthy);
  t.equal(d.state.phase, 'paused');
  t.match(d.state.pausedReason, /glidepath resume/);
  d.advance(3_600_000).tick(during(4, 1, true), healthy);
  t.equal(d.state.stepIndex, 2, 'an indefinite pause waits an hour and more');
  d.tick(during(4, 1, true), healthy, [{ verb: 'resume' }]);
  t.equal(d.state.stepIndex, 3);
  t.equal(d.state.phase, 'progressing');
  t.same(d.spec.steps.at(-1), { kind: 'setWeight', percent: 100 }, 'a schedule ending below 100 % ends at 100 %');
});

t.test('observe mode never writes the Deployment', async (t) => {
  const d = new Driver(specWith({ 'rollout.mode': 'observe' }));
  const all = [];
  all.push(...d.tick(steady()));
  all.push(...d.tick(during(4, { revision: 2, ready: 0, desired: 1 }, false)));
  all.push(...d.advance(2_000).tick(during(3, 1, false)));
  all.push(...d.advance(6_000).tick(during(3, 1, false), healthy));
  t.equal(d.state.stepIndex, 1);
  all.push(...d.advance(1_000).tick(during(2, 2, false)));
  all.push(...d.advance(6_000).tick(during(2, 2, false), healthy));
  all.push(...d.advance(1_000).tick(during(1, 3, false), null, [{ verb: 'pause' }]));
  all.push(...d.advance(1_000).tick(during(1, 3, false), null, [{ verb: 'resume' }]));
  all.push(...d.advance(2_000).tick(world({ newest: C, rs: { [S]: { revision: 1, ready: 0 }, [C]: { revision: 2, ready: 4 } } })));
  t.equal(d.state.phase, 'completed', 'Kubernetes removed every old pod: done');
  t.same(ofType(all, 'pauseDeployment'), []);
  t.same(ofType(all, 'pauseOnAbort'), []);
  t.same(ofType(all, 'rollback'), []);
});

t.test('the template changes again mid-rollout: restart from step 0 with the newer canary', async (t) => {
  const d = started();
  d.advance(6_000).tick(during(4, 1, true), healthy);
  t.equal(d.state.stepIndex, 1);
  // A paused Deployment creates no ReplicaSet: glidepath lets the new template through.
  let a = d.advance(1_000).tick(during(4, 1, true, { templateChanged: true }));
  t.same(
    ofType(a, 'pauseDeployment').map((x) => x.paused),
    [false],
  );
  a = d.advance(1_000).tick(
    world({
      newest: 'c2',
      rs: { [S]: { revision: 1, ready: 3 }, [C]: { revision: 2, ready: 1 }, c2: { revision: 3, ready: 0, desired: 1 } },
    }),
  );
  t.same(d.state.canary, { version: 'c2', revision: 3 });
  t.equal(d.state.stepIndex, 0);
  t.ok(eventReasons(a).includes('RolloutRestarted'));
  t.same(weightsOf(a), { [S]: 10_000, c2: 0 }, 'the old canary gets nothing: its traffic is back on stable');
  t.same(ofType(a, 'startAnalysis'), [{ type: 'startAnalysis', canary: 'c2', stable: S }]);
  t.equal(pausedAfter(a, false), true);
});

t.test('a rollout undone outside glidepath ends', async (t) => {
  const d = started();
  // e.g. the old template applied again while the Deployment is paused.
  const a = d
    .advance(1_000)
    .tick(world({ newest: S, paused: true, rs: { [S]: { revision: 3, ready: 4 }, [C]: { revision: 2, ready: 1 } } }));
  t.equal(d.state.phase, 'idle');
  t.same(weightsOf(a), { [S]: 10_000 });
  t.ok(eventReasons(a).includes('RolloutUndone'));
  t.same(
    ofType(a, 'pauseDeployment').map((x) => x.paused),
    [false],
    'what glidepath paused, it unpauses',
  );
});

t.test('first sight mid-rollout: the older ReplicaSet with pods is stable, the newest the canary', async (t) => {
  const d = new Driver(specWith());
  const a = d.tick(during(3, 1, false));
  t.same(d.state.stable, { version: S, revision: 1 });
  t.same(d.state.canary, { version: C, revision: 2 });
  t.same(weightsOf(a), { [S]: 9_500, [C]: 500 }, 'starts at step 0 (the pod is ready: 1 of 4 is enough for 5 %)');
});

t.test('restart resume: the persisted state gives the same step and weights', async (t) => {
  const d = started();
  d.advance(6_000).tick(during(4, 1, true), healthy);
  d.advance(1_500).tick(during({ revision: 1, ready: 3 }, { revision: 2, ready: 1, desired: 2 }, false));
  const before = d.state;
  t.equal(before.stepIndex, 1);
  const text = serializeState(before);
  const back = parseState(text);
  t.same(back.state, before, 'the annotation round-trips');

  const r = new Driver(d.spec, back.state ?? undefined);
  r.now = d.now + 30_000;
  const a = r.tick(during(3, 1, true));
  t.equal(weightsOf(a), undefined, 'same weights: nothing to change (the loop applies state.weights at start)');
  t.same(ofType(a, 'startAnalysis'), [{ type: 'startAnalysis', canary: C, stable: S }], 'the in-memory analysis starts again');
  t.same(ofType(a, 'pauseDeployment'), []);
  t.equal(r.state.stepIndex, 1);
  r.advance(1_000).tick(during(3, 2, true), healthy);
  t.equal(r.state.stepIndex, 2, 'and goes on');
});

t.test('verbs with no rollout in progress are refused and logged', async (t) => {
  const d = new Driver(specWith());
  d.tick(steady());
  for (const verb of ['promote', 'abort', 'pause', 'resume'] as const) {
    const a = d.tick(steady(), null, [{ verb }]);
    t.same(
      a.map((x) => x.type),
      ['log'],
    );
    t.match(ofType(a, 'log')[0]?.message, new RegExp(`${verb} from an operator ignored: no rollout in progress`));
  }
  t.equal(d.state.phase, 'idle');
});

t.test('no Deployment: decide governs nothing', async (t) => {
  const d = new Driver(specWith());
  t.same(d.tick({ deployment: null, replicaSets: [], readyEndpoints: { x: 2 } }), []);
});

t.test('observe mode: the abort action (rollback) is the one write to the Deployment', async (t) => {
  const d = started({ 'rollout.mode': 'observe' });
  const a = d.advance(100).tick(during(3, 1, false), evidence({ abort: 'failure-rate' }));
  t.same(a[0], { type: 'setWeights', weights: { [S]: 10_000, [C]: 0 } });
  t.equal(ofType(a, 'rollback').length, 1);
  t.same(ofType(a, 'pauseDeployment'), []);
});

t.test('canary pods that do not come: said once, not rewritten every tick', async (t) => {
  const d = started();
  d.advance(6_000).tick(during(4, 1, true), healthy); // to 25 %: needs a second canary pod
  const stuck = during(4, { revision: 2, ready: 1, desired: 2 }, true);
  d.advance(301_000).tick(stuck);
  t.match(d.state.waitingFor, /canary pods: not enough ready for 25 %/);
  t.same(ofType(d.advance(5_000).tick(stuck), 'annotate'), [], 'no new state while nothing changes');
  d.advance(1_000).tick(during({ revision: 1, ready: 3 }, { revision: 2, ready: 2 }, true));
  t.equal(d.state.waitingFor, null);
  t.not(d.state.stepStartedAt, null, 'the step is judged once its pods are there');
});

t.test('abort at 100 % with no stable pod left: the canary weight is 0 and the data plane falls back to it', async (t) => {
  const d = started();
  d.tick(during(4, 1, true), null, [{ verb: 'promote' }]);
  const a = d.advance(2_000).tick(during({ revision: 1, ready: 0, desired: 0, pods: 1 }, 4, false), evidence({ abort: 'absolute-rate' }));
  t.same(
    a[0],
    { type: 'setWeights', weights: { [S]: 10_000, [C]: 0 } },
    "stable keeps the weight; buildSnapshot gives a version with no endpoint's share to the others",
  );
  t.same(ofType(a, 'rollback')[0]?.to, { version: S, revision: 1 }, 'the rollback brings the stable pods back');
});
