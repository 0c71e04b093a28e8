// The admin API's wire vocabulary, shared by the admin listener and the command line that calls it.

/**
 * On every admin answer, so that a client can tell the admin listener from the proxy port: the
 * application behind the proxy may well answer 200 to POST /actions/abort.
 */
export const ADMIN_HEADER = 'x-glidepath-admin';

/** The operator verbs of a rollout, each served as POST /actions/<verb>. */
export const ROLLOUT_VERBS = ['promote', 'abort', 'pause', 'resume'] as const;
export type RolloutVerb = (typeof ROLLOUT_VERBS)[number];
