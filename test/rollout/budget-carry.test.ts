// The budget across a glidepath restart: the guard continues from what the saved state recorded
// (client requests since the rollout began and the canary's excess so far), and the controller
// finds that record in the newest decision of the current rollout.

import t from 'tap';
import { BudgetGuard } from '../../src/rollout/analysis/budget.ts';
import { budgetCarry } from '../../src/rollout/controller.ts';
import { initialState, type RolloutState } from '../../src/rollout/state.ts';

t.test('a carried budget counts its requests and its excess', async (t) => {
  const b = new BudgetGuard(0.001, { clientRequests: 6000, excessFailures: 2 });
  t.equal(b.evidence().clientRequests, 6000);
  t.equal(b.excess(), 2);
  t.equal(b.evidence().remaining, 4, 'ε·N − X = 6 − 2');
  // Judged from the first request on (N ≥ 1/ε already): X = 2 + k against ε·N = 0.001·(6000 + k)
  // plus the allowance S(1) = 8.435 (no variance carried, none yet: only canary requests, all failing).
  let broke = -1;
  for (let k = 1; k <= 30 && broke < 0; k++) if (b.observe(true, true)) broke = k;
  t.equal(broke, 13);
  // Without a carry the same failures at N = 13 are too early to judge.
  const fresh = new BudgetGuard(0.001);
  let freshBroke = false;
  for (let k = 1; k <= 13; k++) freshBroke ||= fresh.observe(true, true);
  t.equal(freshBroke, false);
  // A carried variance widens the allowance as the noise it stands for: S(100) = 51.95.
  const noisy = new BudgetGuard(0.001, { clientRequests: 6000, excessFailures: 2, excessVariance: 100 });
  t.ok(Math.abs(noisy.allowance() - 51.95) < 0.01, `${noisy.allowance()}`);
  t.equal(noisy.evidence().excessVariance, 100);
  t.throws(() => new BudgetGuard(0.001, { clientRequests: 1, excessFailures: 0, excessVariance: -1 }), /excessVariance/);
  t.throws(() => new BudgetGuard(0.001, { clientRequests: -1, excessFailures: 0 }), /clientRequests/);
  t.throws(() => new BudgetGuard(0.001, { clientRequests: 1.5, excessFailures: 0 }), /clientRequests/);
  t.throws(() => new BudgetGuard(0.001, { clientRequests: 1, excessFailures: Number.NaN }), /excessFailures/);
});

t.test('budgetCarry: the newest decision with evidence of the current rollout', async (t) => {
  const summary = (clientRequests: number, excessFailures: number) => ({
    canary: { requests: 1, failures: 0 },
    stable: { requests: 1, failures: 0 },
    step: { requests: 1, failures: 0 },
    lnE: 0,
    lnEThreshold: 5.3,
    lnSR: null,
    lnSRThreshold: 19.1,
    advanceLnE: 0,
    advanceLnThreshold: 3,
    proven: false,
    requestsNeededToProve: 1,
    rateRatio: null,
    latencyThresholdsMs: null,
    budget: { clientRequests, excessFailures, ratio: 0, limit: 0.001, remaining: 1, excessVariance: 3.5, noiseAllowance: 9 },
    abort: null,
  });
  const s: RolloutState = {
    ...initialState(),
    phase: 'progressing',
    startedAt: 1000,
    decisions: [
      { kind: 'advance', at: 500, stepIndex: 0, message: 'an earlier rollout', evidence: summary(99_999, 0) },
      { kind: 'start', at: 1000, stepIndex: 0, message: 'began', evidence: null },
      { kind: 'advance', at: 2000, stepIndex: 0, message: 'step 0 → 1', evidence: summary(6000, -1.5) },
      { kind: 'step', at: 2100, stepIndex: 1, message: 'step 1', evidence: null },
    ],
  };
  t.same(budgetCarry(s), { clientRequests: 6000, excessFailures: -1.5, excessVariance: 3.5 });
  t.equal(budgetCarry({ ...s, decisions: s.decisions.slice(0, 2) }), undefined, 'nothing recorded for this rollout yet');
  t.equal(budgetCarry({ ...s, startedAt: null }), undefined);
});
