// The operator's commands against a running glidepath: `status` reads the admin API's /status,
// `promote`, `abort`, `pause` and `resume` POST its rollout verbs with the bearer token.

import type { parseArgs } from 'node:util';
import { parseDuration } from '../core/duration.ts';
import { AdminClientError, AdminUsageError, DEFAULT_ADMIN_URL, adminRequest, parseAdminUrl, readToken } from './admin-client.ts';
import { renderStatus, type StatusDocument } from './status-table.ts';

/** The shape of a COMMANDS entry in main.ts; these commands report their own errors and exit codes. */
export interface AdminCommand {
  readonly summary: string;
  readonly usage: string;
  readonly options: NonNullable<Parameters<typeof parseArgs>[0]>['options'];
  readonly help: string;
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

const DEFAULT_TIMEOUT = '5s';

const COMMON_OPTIONS = {
  admin: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const COMMON_HELP = `      --admin URL          the admin API: a URL or HOST:PORT (env: GLIDEPATH_ADMIN_URL;
                           default ${DEFAULT_ADMIN_URL}, the default admin.listen)
      --timeout DURATION   give up after this long (default ${DEFAULT_TIMEOUT})`;

const TOKEN_HELP = `      --token-file FILE    file holding the admin bearer token, the admin.token of that
                           glidepath (default: the GLIDEPATH_ADMIN_TOKEN environment variable)`;

const VERB_EXIT_HELP = `Exits 0 when glidepath accepted it; 1 when it refused (401: wrong token; 403: verbs disabled,
admin.token is empty there; 409: no rollout controller, or no rollout the verb applies to) or
could not be reached; 2 for a usage error.`;

const out = (text: string): void => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
const err = (text: string): void => void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);

interface Target {
  readonly base: URL;
  readonly timeoutMs: number;
}

function target(values: Record<string, string | boolean | undefined>): Target {
  const admin = (values.admin as string | undefined) ?? (process.env.GLIDEPATH_ADMIN_URL || DEFAULT_ADMIN_URL);
  const timeout = (values.timeout as string | undefined) ?? DEFAULT_TIMEOUT;
  const timeoutMs = parseDuration(timeout);
  if (timeoutMs === undefined || timeoutMs <= 0)
    throw new AdminUsageError(`--timeout: expected a duration such as 5s or 500ms; got "${timeout}"`);
  return { base: parseAdminUrl(admin), timeoutMs };
}

/** Runs a command body, printing its failure the way main.ts prints its own: usage 2, failure 1. */
function guarded(
  name: string,
  usage: string,
  body: (values: Record<string, string | boolean | undefined>) => Promise<void>,
): AdminCommand['run'] {
  return async (values, positionals) => {
    try {
      if (positionals.length > 0) throw new AdminUsageError(`${name} takes no positional arguments (got "${positionals[0]}")`);
      await body(values);
      return 0;
    } catch (e) {
      if (e instanceof AdminUsageError) {
        err(`glidepath ${name}: ${e.message}\nUsage: ${usage}`);
        return 2;
      }
      if (e instanceof AdminClientError) {
        err(`glidepath ${name}: ${e.message}`);
        return 1;
      }
      throw e;
    }
  };
}

const STATUS_USAGE = 'glidepath status [--admin URL] [--json] [--timeout DURATION]';

const status: AdminCommand = {
  summary: 'show versions, weights, the rollout step, its verdicts and the budget',
  usage: STATUS_USAGE,
  options: COMMON_OPTIONS,
  help: `Reads GET /status from a running glidepath's admin API and prints it: discovery, a table of
versions (weights, ready endpoints, requests, failures), then the rollout (phase, step, the abort
and advance tests' e-values against their thresholds, the budget spent, the last decisions).
Needs no token.

Options:
${COMMON_HELP}
      --json               print the /status document as JSON instead

Exits 0 when glidepath answered, 1 when it could not be reached or answered an error.`,
  run: guarded('status', STATUS_USAGE, async (values) => {
    const { base, timeoutMs } = target(values);
    const doc = await adminRequest({ base, method: 'GET', path: '/status', timeoutMs });
    if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as StatusDocument).versions)) {
      throw new AdminClientError(
        `${base.href.replace(/\/$/, '')}/status is not a glidepath status document: is --admin the glidepath admin listener (admin.listen), not the proxy port?`,
      );
    }
    if (values.json) return out(JSON.stringify(doc, null, 2));
    const color = process.stdout.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
    out(renderStatus(doc as StatusDocument, { color }));
  }),
};

interface VerbSpec {
  readonly summary: string;
  readonly does: string;
  readonly reason: boolean;
}

const VERBS: Record<'promote' | 'abort' | 'pause' | 'resume', VerbSpec> = {
  promote: {
    summary: 'advance the rollout past its current step or pause',
    does: `The rollout leaves its current step (an indefinite pause included) without waiting for more
evidence. The abort test keeps watching every request.`,
    reason: false,
  },
  abort: {
    summary: 'abort the rollout: canary weight 0, then the configured Kubernetes action',
    does: `The canary's weight goes to 0 at once, then the Kubernetes action from the configuration runs
(rollback by default). The reason is recorded with the decision.`,
    reason: true,
  },
  pause: {
    summary: 'hold the rollout at its current step until resume',
    does: `The rollout stays at its current weights; evidence keeps accumulating and the abort test keeps
watching every request. The reason is shown by status.`,
    reason: true,
  },
  resume: {
    summary: 'continue a paused rollout',
    does: 'A rollout paused by pause (or by too little traffic) continues judging its current step.',
    reason: false,
  },
};

function verb(name: keyof typeof VERBS, spec: VerbSpec): AdminCommand {
  const usage = `glidepath ${name} [--admin URL] [--token-file FILE]${spec.reason ? ' [--reason TEXT]' : ''} [--json] [--timeout DURATION]`;
  return {
    summary: spec.summary,
    usage,
    options: { ...COMMON_OPTIONS, 'token-file': { type: 'string' }, ...(spec.reason ? { reason: { type: 'string' } } : {}) },
    help: `${spec.does}
Sends POST /actions/${name} to the admin API of a running glidepath.

Options:
${COMMON_HELP}
${TOKEN_HELP}${spec.reason ? '\n      --reason TEXT        why (at most 1024 characters), sent as {"reason": TEXT}' : ''}
      --json               print the admin API's JSON answer

${VERB_EXIT_HELP}`,
    run: guarded(name, usage, async (values) => {
      const { base, timeoutMs } = target(values);
      const token = readToken(values['token-file'] as string | undefined, process.env);
      const body = typeof values.reason === 'string' ? { reason: values.reason } : {};
      const answer = await adminRequest({ base, method: 'POST', path: `/actions/${name}`, token, body, timeoutMs });
      if (values.json) return out(JSON.stringify(answer, null, 2));
      const message = (answer as { message?: unknown } | null)?.message;
      out(`${name}: accepted by ${base.href.replace(/\/$/, '')}${typeof message === 'string' ? `: ${message}` : ''}`);
    }),
  };
}

/** The operator commands, in the order `glidepath --help` lists them. */
export const ADMIN_COMMANDS: Readonly<Record<string, AdminCommand>> = {
  status,
  ...Object.fromEntries(Object.entries(VERBS).map(([name, spec]) => [name, verb(name as keyof typeof VERBS, spec)])),
};
