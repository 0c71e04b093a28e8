// The vocabularies every plane shares about requests: what an upstream attempt came to, why a
// request was refused before routing, and the request-duration buckets. Data only, no behaviour.

/** What one upstream attempt came to. Indexes into the per-version attempt counters. */
export const OUTCOMES = ['success', 'http_5xx', 'connect_error', 'reset', 'timeout', 'protocol_error'] as const;
export type Outcome = (typeof OUTCOMES)[number];
export const OUTCOME_INDEX: Readonly<Record<Outcome, number>> = Object.fromEntries(OUTCOMES.map((o, i) => [o, i])) as Record<
  Outcome,
  number
>;

/** Upper bounds (seconds) of the request-duration histogram buckets; +Inf is implicit. */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
export type DurationBucket = (typeof DURATION_BUCKETS)[number];

/** Why a request was refused before routing; each is a label value of the rejections metric. */
export const REJECT_REASONS = [
  'http_version',
  'duplicate_host',
  'invalid_host',
  'target_form',
  'absolute_form_authority',
  'te_on_http10',
  'transfer_coding',
  'too_many_headers',
  'header_too_large',
  'url_too_long',
  'parse_error',
  'request_timeout',
  'chunk_extension_too_large',
  'connect_method',
  'invalid_header_value',
  'h2c_upgrade',
  'bad_websocket',
  'overloaded',
  'shutting_down',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
