// The replay rules of the README ("Replays only what is safe", "Knows the trade-off it makes for
// non-idempotent requests") as a table over the pure decision in src/dataplane/replay-decision.ts.

import t from 'tap';
import { decideReplay, type ReplayFacts } from '../../src/dataplane/replay-decision.ts';

/** A first attempt of a GET without a replay header, nothing sent back yet, budget available. */
const BASE: ReplayFacts = {
  failure: 'retry-status',
  idempotentMethod: true,
  replayMarker: undefined,
  responseSent: false,
  bodyReplayable: true,
  attempt: 1,
  maxRetries: 2,
  budgetAvailable: true,
};
const POST = { idempotentMethod: false } as const;

const rows: readonly [rule: string, facts: Partial<ReplayFacts>, expected: ReturnType<typeof decideReplay>][] = [
  // Connect failures and requests that never left: any method, the pod never saw them.
  ['connect failure, GET', { failure: 'connect-error' }, 'replay-anywhere'],
  ['connect failure, POST', { ...POST, failure: 'connect-error' }, 'replay-anywhere'],
  [
    'connect failure, POST marked "false": the pod never saw it',
    { ...POST, failure: 'connect-error', replayMarker: false },
    'replay-anywhere',
  ],
  ['queued, never handed to a socket, POST', { ...POST, failure: 'not-sent' }, 'replay-anywhere'],
  // The keep-alive race: a reset on a reused socket before any response byte.
  ['reset on a reused socket before any byte, GET', { failure: 'stale-socket' }, 'replay-anywhere'],
  ['reset on a reused socket before any byte, POST (the trade-off)', { ...POST, failure: 'stale-socket' }, 'replay-anywhere'],
  ['reset on a reused socket, POST marked "false": never twice', { ...POST, failure: 'stale-socket', replayMarker: false }, 'answer'],
  ['reset on a reused socket, GET marked "false": never twice', { failure: 'stale-socket', replayMarker: false }, 'answer'],
  // Other failures: idempotent or replay-marked requests only.
  ['retry.statuses, GET', { failure: 'retry-status' }, 'replay-if-idempotent'],
  ['retry.statuses, PUT/DELETE are idempotent too', { failure: 'retry-status', idempotentMethod: true }, 'replay-if-idempotent'],
  ['retry.statuses, POST', { ...POST, failure: 'retry-status' }, 'answer'],
  ['retry.statuses, POST marked "true"', { ...POST, failure: 'retry-status', replayMarker: true }, 'replay-if-idempotent'],
  ['retry.statuses, GET marked "false"', { failure: 'retry-status', replayMarker: false }, 'answer'],
  ['per-try timeout, GET', { failure: 'timeout' }, 'replay-if-idempotent'],
  ['per-try timeout, POST', { ...POST, failure: 'timeout' }, 'answer'],
  ['per-try timeout, POST marked "true"', { ...POST, failure: 'timeout', replayMarker: true }, 'replay-if-idempotent'],
  ['reset on a fresh socket, GET', { failure: 'reset' }, 'replay-if-idempotent'],
  ['reset on a fresh socket, POST: the pod may have acted', { ...POST, failure: 'reset' }, 'answer'],
  ['malformed response, GET', { failure: 'protocol-error' }, 'replay-if-idempotent'],
  ['malformed response, POST', { ...POST, failure: 'protocol-error' }, 'answer'],
  // During a rollout: the newest version's retry.canaryStatuses go to the stable version.
  ['canary 500 during a rollout, GET', { failure: 'canary-status' }, 'replay-if-idempotent'],
  ['canary 500 during a rollout, POST', { ...POST, failure: 'canary-status' }, 'answer'],
  ['canary 500 during a rollout, POST marked "true"', { ...POST, failure: 'canary-status', replayMarker: true }, 'replay-if-idempotent'],
  // Never replayed.
  ['a status outside the retry lists, GET', { failure: 'status' }, 'answer'],
  ['a request the pod refused as malformed, GET', { failure: 'client-error' }, 'answer'],
  // Only before any response byte reached the client.
  ['response header already sent, GET reset mid-body', { failure: 'reset', responseSent: true }, 'answer'],
  ['response header already sent, even a connect-class failure', { failure: 'connect-error', responseSent: true }, 'answer'],
  // Bodies: kept ones (≤ replayBufferBytes) replay; a streamed body the pod began reading cannot.
  ['streamed body already read, PUT', { failure: 'retry-status', bodyReplayable: false }, 'answer'],
  ['streamed body already read, stale socket', { ...POST, failure: 'stale-socket', bodyReplayable: false }, 'answer'],
  // Bounded: retry.maxRetries replays, and the retry budget.
  ['the last replay allowed (attempt 2 of maxRetries 2)', { attempt: 2 }, 'replay-if-idempotent'],
  ['past retry.maxRetries', { attempt: 3 }, 'answer'],
  ['retries off (maxRetries 0)', { failure: 'connect-error', maxRetries: 0 }, 'answer'],
  ['retry budget spent, GET', { budgetAvailable: false }, 'answer'],
  ['retry budget spent, connect failure', { failure: 'connect-error', budgetAvailable: false }, 'answer'],
];

for (const [rule, facts, expected] of rows) {
  t.equal(decideReplay({ ...BASE, ...facts }), expected, rule);
}

t.test('every failure kind appears in the table', async (t) => {
  const kinds = new Set(rows.map(([, f]) => f.failure ?? BASE.failure));
  t.same([...kinds].sort(), [
    'canary-status',
    'client-error',
    'connect-error',
    'not-sent',
    'protocol-error',
    'reset',
    'retry-status',
    'stale-socket',
    'status',
    'timeout',
  ]);
});
