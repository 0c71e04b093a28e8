// The rollout section of the config: defaults, Argo-style steps validated field by field with clear
// paths, steps from a file and from the environment, and the spec decide() reads.

import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { ValidationError } from '../../src/core/errors.ts';
import { rolloutSpec, stepPercent } from '../../src/rollout/spec.ts';

function errorsOf(fn: () => unknown): Record<string, string> {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return Object.fromEntries(err.errors.map((e) => [e.path, e.message]));
    throw err;
  }
  throw new Error('expected a ValidationError');
}

t.test('defaults', async (t) => {
  const r = loadConfig().rollout;
  t.equal(r.mode, 'gated');
  t.same(r.steps, [{ setWeight: 5 }, { setWeight: 25 }, { setWeight: 50 }, { setWeight: 100 }]);
  t.equal(r.advance, 'evidence');
  t.equal(r.minStepDuration, 5_000);
  t.equal(r.minStepRequests, 100);
  t.equal(r.maxStepDuration, 300_000);
  t.equal(r.onInconclusive, 'pause');
  t.equal(r.abortAction, 'rollback');
  t.equal(r.alpha, 0.01);
  t.equal(r.alphaAdvance, 0.05);
  t.equal(r.budget, 0.001);
  t.equal(r.unhealthyPodRestarts, 3);
  const spec = rolloutSpec(r);
  t.same(
    spec.steps.map((s) => stepPercent(spec, spec.steps.indexOf(s))),
    [5, 25, 50, 100],
  );
  t.equal(spec.minStepDurationMs, 5_000);
});

t.test('steps from a YAML file, pause durations in milliseconds, a final 100 % added', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'glidepath-rollout-'));
  const file = join(dir, 'g.yaml');
  writeFileSync(
    file,
    'rollout:\n  mode: observe\n  steps:\n    - setWeight: 10\n    - pause: {duration: 1m}\n    - setWeight: 40\n    - pause: {}\n',
  );
  const r = loadConfig({ file }).rollout;
  t.same(r.steps, [{ setWeight: 10 }, { pause: { duration: 60_000 } }, { setWeight: 40 }, { pause: {} }]);
  const spec = rolloutSpec(r);
  t.equal(spec.mode, 'observe');
  t.same(spec.steps, [
    { kind: 'setWeight', percent: 10 },
    { kind: 'pause', durationMs: 60_000 },
    { kind: 'setWeight', percent: 40 },
    { kind: 'pause', durationMs: null },
    { kind: 'setWeight', percent: 100 },
  ]);
  t.equal(stepPercent(spec, 3), 40, 'a pause holds the weight before it');
});

t.test('steps from the environment as a YAML/JSON flow list', async (t) => {
  const r = loadConfig({
    env: {
      GLIDEPATH_ROLLOUT_STEPS: '[{setWeight: 20}, {"pause": {"duration": "30s"}}, {setWeight: 100}]',
      GLIDEPATH_ROLLOUT_ABORT_ACTION: 'pause',
    },
  }).rollout;
  t.same(r.steps, [{ setWeight: 20 }, { pause: { duration: 30_000 } }, { setWeight: 100 }]);
  t.equal(r.abortAction, 'pause');
  const errors = errorsOf(() => loadConfig({ env: { GLIDEPATH_ROLLOUT_STEPS: '5,25' } }));
  t.match(errors['rollout.steps[0]'], /expected \{setWeight: N\} or \{pause: \{duration\}\}; got "5".*GLIDEPATH_ROLLOUT_STEPS/);
});

t.test('bad steps are reported field by field, every one at once', async (t) => {
  const errors = errorsOf(() =>
    loadConfig({
      flags: {
        'rollout.steps': [
          { setWeight: 5 },
          { setWeight: 200 },
          { setWeight: 3 },
          { pause: { duration: 'soon' } },
          { pause: 5 },
          'x',
          { setWeight: 5, pause: {} },
          { pause: { duration: '1s', extra: 1 } },
          { setWieght: 7 },
          { setWeight: 2.5 },
        ],
      },
    }),
  );
  t.match(errors['rollout.steps[1].setWeight'], /expected a whole percent 0\.\.100; got 200 \(from --flag rollout\.steps\)/);
  t.match(errors['rollout.steps[2].setWeight'], /must not decrease: 3 after 5 at rollout\.steps\[0\]/);
  t.match(errors['rollout.steps[3].pause.duration'], /expected a duration .*got "soon"/);
  t.match(errors['rollout.steps[4].pause'], /expected \{duration: "30s"\} or \{\}/);
  t.match(errors['rollout.steps[5]'], /got "x"/);
  t.match(errors['rollout.steps[6]'], /exactly one of setWeight, pause/);
  t.match(errors['rollout.steps[7].pause.extra'], /unknown field/);
  t.match(errors['rollout.steps[8]'], /exactly one of setWeight, pause; got \{"setWieght":7\}/);
  t.match(errors['rollout.steps[9].setWeight'], /whole percent/);
  t.notOk(
    Object.values(errors).some((m) => /union/i.test(m)),
    'no "Expected union value"',
  );
});

t.test('the other rollout keys are checked by the schema', async (t) => {
  const errors = errorsOf(() =>
    loadConfig({
      flags: {
        'rollout.mode': 'yolo',
        'rollout.alpha': 0,
        'rollout.budget': 2,
        'rollout.onInconclusive': 'shrug',
        'rollout.maxStepDuration': 'long',
        'rollout.steps': 'fast',
      },
    }),
  );
  t.match(errors['rollout.mode'], /one of gated, observe; got "yolo"/);
  t.match(errors['rollout.alpha'], /greater than 0/);
  t.match(errors['rollout.budget'], /less or equal to 1/);
  t.match(errors['rollout.onInconclusive'], /one of pause, advance/);
  t.match(errors['rollout.maxStepDuration'], /duration/);
  t.match(errors['rollout.steps'], /Expected array/);
});
