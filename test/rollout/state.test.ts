// The rollout state read back from a Kubernetes annotation: a round trip keeps everything, and
// garbage of every kind gives null with a reason naming what is wrong, never a half-read state.

import t from 'tap';
import { initialState, parseState, serializeState, summarizeEvidence, MAX_DECISIONS, type RolloutState } from '../../src/rollout/state.ts';
import { Driver, evidence, specWith, world } from './world.ts';

/** A state with every field in use: a rollout aborted with its evidence, after several decisions. */
function busyState(): RolloutState {
  const d = new Driver(specWith());
  d.tick(world({ newest: 's1', rs: { s1: { revision: 1, ready: 4 } } }));
  d.tick(world({ newest: 'c1', rs: { s1: { revision: 1, ready: 4 }, c1: { revision: 2, ready: 1 } } }));
  d.advance(100).tick(
    world({ newest: 'c1', paused: true, rs: { s1: { revision: 1, ready: 4 }, c1: { revision: 2, ready: 1 } } }),
    evidence({ abort: 'failure-rate', canaryFailures: 3 }),
  );
  return d.state;
}

t.test('round trip through the annotation text', async (t) => {
  const state = busyState();
  t.equal(state.phase, 'aborted');
  const back = parseState(serializeState(state));
  t.equal(back.reason, null);
  t.same(back.state, state);
  t.same(parseState(initialState()).state, initialState(), 'an already parsed object is accepted too');
});

t.test('evidence with infinities is stored as null and still reads back', async (t) => {
  const summary = summarizeEvidence(evidence({ lnSR: -Infinity }));
  t.equal(summary.lnSR, null);
  t.equal(summary.lnE, -0.5);
  t.equal(summary.rateRatio?.[1], 4.2);
  const state = { ...initialState(), decisions: [{ kind: 'step' as const, at: 1, stepIndex: 0, message: 'm', evidence: summary }] };
  t.equal(parseState(serializeState(state)).reason, null);
});

t.test('garbage gives null and a reason', async (t) => {
  const cases: [unknown, RegExp][] = [
    ['', /not JSON/],
    ['{"schemaVersion":1,', /not JSON/],
    ['[1,2]', /not a JSON object/],
    ['null', /not a JSON object/],
    [42, /not a JSON object/],
    ['{}', /schemaVersion undefined is not 1/],
    [JSON.stringify({ ...initialState(), schemaVersion: 2 }), /schemaVersion 2 is not 1/],
    [JSON.stringify({ ...initialState(), phase: 'exploded' }), /\/phase/],
    [JSON.stringify({ ...initialState(), stepIndex: -1 }), /\/stepIndex/],
    [JSON.stringify({ ...initialState(), weights: { s1: 'all' } }), /\/weights\/s1.*"all"/],
    [JSON.stringify({ ...initialState(), stable: { version: '', revision: 1 } }), /\/stable/],
    [JSON.stringify({ ...initialState(), abortedTemplates: 'c1' }), /\/abortedTemplates/],
    [JSON.stringify({ ...initialState(), decisions: [{ kind: 'advance' }] }), /\/decisions\/0/],
    [JSON.stringify((({ operatorPaused: _drop, ...rest }) => rest)(initialState())), /operatorPaused/],
  ];
  for (const [input, reason] of cases) {
    const parsed = parseState(input);
    t.equal(parsed.state, null, `rejected: ${String(input).slice(0, 60)}`);
    t.match(parsed.reason, reason);
  }
});

t.test('unknown extra fields are dropped, not kept', async (t) => {
  const parsed = parseState(JSON.stringify({ ...initialState(), futureField: 1 }));
  t.equal(parsed.reason, null);
  t.notOk(parsed.state && 'futureField' in parsed.state);
});

t.test('the record stays bounded: the newest decisions only', async (t) => {
  const d = new Driver(specWith());
  d.tick(world({ newest: 's1', rs: { s1: { revision: 1, ready: 4 } } }));
  const obs = world({ newest: 'c1', paused: true, rs: { s1: { revision: 1, ready: 4 }, c1: { revision: 2, ready: 1 } } });
  for (let i = 0; i < 30; i++) {
    d.advance(1_000).tick(obs, null, [{ verb: 'pause' }]);
    d.advance(1_000).tick(obs, null, [{ verb: 'resume' }]);
  }
  t.equal(d.state.decisions.length, MAX_DECISIONS);
  t.equal(d.state.decisions.at(-1)?.kind, 'resume');
  t.ok(serializeState(d.state).length < 64 * 1024, 'fits comfortably in an annotation (256 KiB for all of them)');
});
