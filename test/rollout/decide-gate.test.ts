// The pieces decide() is built from: the weight table for a step given the ready pods, when a gated
// Deployment holds, the worst case the budget must afford, and the sign-of-harm rule.

import t from 'tap';
import { allPodsNew, podsFor, rolloutWeights, shouldHoldDeployment, stepReached } from '../../src/rollout/shares.ts';
import { ABORT_FAILURES, budgetBlock, judgeStep, needMore, signOfHarm, worstCaseFailures } from '../../src/rollout/gate.ts';
import { evidence, specWith, world } from './world.ts';

t.test('weights: the step percent, capped by the ready share, all or nothing at the edges', async (t) => {
  t.same(rolloutWeights('s', 'c', 5, { s: 4, c: 1 }), { s: 9_500, c: 500 });
  t.same(rolloutWeights('s', 'c', 50, { s: 4, c: 1 }), { s: 8_000, c: 2_000 });
  t.same(rolloutWeights('s', 'c', 50, { s: 3, c: 0 }), { s: 10_000, c: 0 });
  t.same(rolloutWeights('s', 'c', 5, { s: 0, c: 2 }), { s: 0, c: 10_000 });
  t.same(rolloutWeights('s', 'c', 100, { s: 1, c: 2 }), { s: 3_334, c: 6_666 });
  t.same(rolloutWeights('s', 'c', 0, { s: 1, c: 2 }), { s: 10_000, c: 0 });
  for (let s = 1; s <= 10; s++) {
    for (let c = 1; c <= 10; c++) {
      const w = rolloutWeights('s', 'c', 100, { s, c });
      t.ok((w.c as number) / c <= (w.s as number) / s + 1e-9, `a canary pod never carries more than a stable pod (${c} vs ${s})`);
    }
  }
});

t.test('pods for a step and when a gated Deployment holds', async (t) => {
  t.same([podsFor(0, 4), podsFor(5, 4), podsFor(25, 4), podsFor(50, 4), podsFor(60, 4), podsFor(100, 4)], [0, 1, 1, 2, 3, 4]);
  t.ok(stepReached('s', 'c', 25, { s: 3, c: 1 }));
  t.notOk(stepReached('s', 'c', 25, { s: 4, c: 1 }));
  t.notOk(stepReached('s', 'c', 100, { s: 0, c: 4 }), '100 % is completion, not a step that is reached');
  const obs = (s: number, c: number, desired: number) =>
    world({ newest: 'c', rs: { s: { revision: 1, ready: s }, c: { revision: 2, ready: c, desired } } });
  const rs = (o: ReturnType<typeof obs>) => o.replicaSets.find((r) => r.version === 'c');
  let o = obs(4, 0, 1);
  t.ok(shouldHoldDeployment('s', rs(o), 5, o), 'the pod it needs is on its way: hold');
  o = obs(4, 0, 0);
  t.notOk(shouldHoldDeployment('s', rs(o), 5, o), 'no canary pod scheduled yet: let Kubernetes create one');
  o = obs(4, 1, 1);
  t.notOk(shouldHoldDeployment('s', rs(o), 25, o), '1 of 5 ready is short of 25 %: let Kubernetes move on');
  o = obs(3, 1, 2);
  t.ok(shouldHoldDeployment('s', rs(o), 25, o));
  t.notOk(shouldHoldDeployment('s', rs(o), 100, o), 'never held at 100 %');
  t.ok(allPodsNew('c', obs(0, 4, 4)), 'all new');
  t.notOk(
    allPodsNew('c', world({ newest: 'c', rs: { s: { revision: 1, ready: 0, pods: 1 }, c: { revision: 2, ready: 4 } } })),
    'an old pod still exists',
  );
  t.notOk(
    allPodsNew(
      'c',
      world({ newest: 'c', generation: 3, observedGeneration: 2, rs: { s: { revision: 1, ready: 0 }, c: { revision: 2, ready: 4 } } }),
    ),
    'Kubernetes has not seen the latest spec',
  );
});

t.test('the worst case the budget must afford: abort failures plus requests in flight', async (t) => {
  // 10,000 requests in 10 s is 1 request/ms; 50 % of them in flight for the 12 ms median: 6.
  const e = evidence({ clientRequests: 10_000 });
  t.equal(worstCaseFailures(e, 10_000, 50), ABORT_FAILURES + 6);
  t.match(budgetBlock(e, 10_000, 25, 50), /≈ 11 requests .* affords 10\.0 more/, '11 > the 10 affordable: blocked');
});

t.test('budget block: affordable or not', async (t) => {
  const e = evidence({ clientRequests: 10_000 }); // 10 affordable at 0.1 %
  t.equal(worstCaseFailures(e, 10_000, 25), ABORT_FAILURES + 3);
  t.equal(budgetBlock(e, 10_000, 5, 25), null, '8 ≤ 10');
  t.match(budgetBlock(e, 10_000, 25, 100), /at 100 % a broken canary could fail ≈ 17 requests/);
  t.equal(budgetBlock(e, 10_000, 50, 50), null, 'no increase, nothing to afford');
});

t.test('the gate: dwell, requests, harm, proven', async (t) => {
  const spec = specWith();
  t.match(judgeStep(spec, evidence(), 4_000, 60_000, 5, 25), { kind: 'wait', why: 'dwell' });
  t.match(judgeStep(spec, null, 9_000, 60_000, 5, 25), { kind: 'wait', why: 'evidence' });
  t.match(judgeStep(spec, evidence({ stepRequests: 40 }), 9_000, 60_000, 5, 25), { kind: 'wait', why: 'evidence', requestsNeeded: 60 });
  t.match(judgeStep(spec, evidence(), 9_000, 60_000, 5, 25), { kind: 'advance' });
  t.match(judgeStep(spec, evidence({ lnSR: 10 }), 9_000, 60_000, 5, 25), { kind: 'wait', why: 'harm' });
  t.equal(signOfHarm(evidence({ lnE: 2 })), null);
  t.match(signOfHarm(evidence({ lnE: 2.7 })), /halfway/);
  const proven = specWith({ 'rollout.advance': 'proven' });
  t.match(judgeStep(proven, evidence({ stepRequests: 5_000 }), 9_000, 60_000, 5, 25), { kind: 'wait', requestsNeeded: 3_000 });
  t.match(judgeStep(proven, evidence({ proven: true }), 9_000, 60_000, 5, 25), { kind: 'advance' });
  t.match(needMore(70, 30, 300_000), /need ≈ 70 more canary requests \(≈ 12 min at the current rate\)/);
  t.match(needMore(70, 0, 300_000), /no canary traffic so far/);
  t.match(needMore(Infinity, 10, 300_000), /can bound yet/);
});
