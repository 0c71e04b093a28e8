// The cluster-free discovery source: a YAML or JSON endpoints file, validated in full and
// watched, so that a change applies without a restart and a bad edit never replaces a good one.

import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { WEIGHT_TOTAL, endpointKey, type DiscoverySnapshot, type Endpoint } from '../core/types.ts';
import { parseHostPort } from '../core/address.ts';
import { ValidationError, pointerToPath, type FieldError } from '../core/errors.ts';
import type { DiscoverySource, DiscoveryListener } from './source.ts';

const EndpointsFileSchema = Type.Object(
  {
    versions: Type.Array(
      Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 253, description: 'Any label; in Kubernetes the pod-template-hash.' }),
          revision: Type.Integer({ minimum: 0, description: 'Higher is newer.' }),
          weight: Type.Optional(
            Type.Integer({ minimum: 0, maximum: WEIGHT_TOTAL, description: 'Basis points; all weights sum to 10000.' }),
          ),
        },
        { additionalProperties: false },
      ),
      { minItems: 1 },
    ),
    endpoints: Type.Array(
      Type.Object(
        {
          address: Type.String({ description: 'host:port of the pod.' }),
          version: Type.String({ minLength: 1 }),
          ready: Type.Optional(Type.Boolean()),
          serving: Type.Optional(Type.Boolean()),
          terminating: Type.Optional(Type.Boolean()),
          name: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
      { default: [] },
    ),
  },
  { additionalProperties: false },
);
type EndpointsFile = Static<typeof EndpointsFileSchema>;

/** Parses and validates endpoints-file text; throws a ValidationError listing every problem. */
export function parseEndpointsFile(text: string, source: string): DiscoverySnapshot {
  const errors: FieldError[] = [];
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true }) ?? {};
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : '';
    throw new ValidationError('GP_ENDPOINTS_INVALID', source, [
      { path: '', message: `not valid YAML or JSON${where}: ${(err as Error).message.split('\n')[0]}` },
    ]);
  }
  const withDefaults = Value.Default(EndpointsFileSchema, doc);
  for (const e of Value.Errors(EndpointsFileSchema, withDefaults)) {
    errors.push({
      path: pointerToPath(e.path),
      message: e.message === 'Unexpected property' ? 'unknown field' : `${e.message}; got ${JSON.stringify(e.value)}`,
    });
  }
  if (errors.length > 0) throw new ValidationError('GP_ENDPOINTS_INVALID', source, errors);
  const file = withDefaults as EndpointsFile;

  const names = new Set<string>();
  file.versions.forEach((v, i) => {
    if (names.has(v.name)) errors.push({ path: `versions[${i}].name`, message: `duplicate version "${v.name}"` });
    names.add(v.name);
  });
  const weighted = file.versions.filter((v) => v.weight !== undefined);
  if (weighted.length > 0 && weighted.length < file.versions.length) {
    errors.push({ path: 'versions', message: 'give every version a weight, or none (then a single version takes everything)' });
  } else if (weighted.length === 0 && file.versions.length > 1) {
    errors.push({ path: 'versions', message: 'with more than one version, each needs a weight (basis points summing to 10000)' });
  } else if (weighted.length > 0) {
    const sum = weighted.reduce((s, v) => s + (v.weight as number), 0);
    if (sum !== WEIGHT_TOTAL) errors.push({ path: 'versions', message: `weights sum to ${sum}; they must sum to ${WEIGHT_TOTAL}` });
  }

  const endpoints: Endpoint[] = [];
  const addresses = new Set<string>();
  file.endpoints.forEach((e, i) => {
    const hp = parseHostPort(e.address, '');
    if (typeof hp === 'string') errors.push({ path: `endpoints[${i}].address`, message: hp });
    else if (hp.port === 0) errors.push({ path: `endpoints[${i}].address`, message: 'port 0 is not a pod port' });
    if (!names.has(e.version))
      errors.push({ path: `endpoints[${i}].version`, message: `unknown version "${e.version}"; declare it under versions` });
    if (typeof hp === 'string') return;
    const key = endpointKey(hp.host, hp.port);
    if (addresses.has(key)) errors.push({ path: `endpoints[${i}].address`, message: `duplicate address ${key}` });
    addresses.add(key);
    const terminating = e.terminating ?? false;
    const ready = (e.ready ?? true) && !terminating;
    // EndpointSlice semantics: serving tracks readiness; a terminating pod keeps serving unless told.
    const serving = e.serving ?? (terminating ? true : (e.ready ?? true));
    endpoints.push({ host: hp.host, port: hp.port, version: e.version, ready, serving, terminating, name: e.name });
  });
  if (errors.length > 0) throw new ValidationError('GP_ENDPOINTS_INVALID', source, errors);

  const versions = file.versions.map((v) => ({ name: v.name, revision: v.revision }));
  const weights = Object.fromEntries(file.versions.map((v) => [v.name, v.weight ?? WEIGHT_TOTAL]));
  return { versions, endpoints, weights };
}

const UNREADABLE = '\0unreadable';

/**
 * Watches the file's directory (so editors' rename-into-place and ConfigMap symlink swaps are
 * seen) and re-reads on a slow poll as a safety net; applies only content that changed and passed.
 */
export class StaticFileDiscovery implements DiscoverySource {
  readonly #path: string;
  readonly #pollMs: number;
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #lastText: string | undefined;
  #listener: DiscoveryListener | undefined;

  constructor(path: string, options: { pollMs?: number } = {}) {
    this.#path = resolve(path);
    this.#pollMs = options.pollMs ?? 1_000;
  }

  get description(): string {
    return `endpoints file ${this.#path}`;
  }

  /** Loads the file once (throwing if it is invalid), then watches it. */
  async start(listener: DiscoveryListener): Promise<void> {
    this.#listener = listener;
    const text = this.#read();
    if (text === undefined) throw new ValidationError('GP_ENDPOINTS_INVALID', this.#path, [{ path: '', message: 'cannot read the file' }]);
    const snapshot = parseEndpointsFile(text, this.#path);
    this.#lastText = text;
    listener.onSnapshot(snapshot);
    const file = basename(this.#path);
    this.#watcher = watch(dirname(this.#path), { persistent: false }, (_event, name) => {
      if (name === null || name === file || name === '..data') this.#schedule();
    });
    this.#watcher.on('error', () => undefined);
    this.#poll = setInterval(() => this.#reload(), this.#pollMs);
    this.#poll.unref();
  }

  #schedule(): void {
    // Editors write in several steps; settle first.
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => this.#reload(), 30);
    this.#debounce.unref();
  }

  #read(): string | undefined {
    try {
      return readFileSync(this.#path, 'utf8');
    } catch {
      return undefined;
    }
  }

  #reload(): void {
    const text = this.#read();
    if (text === undefined) {
      if (this.#lastText !== UNREADABLE)
        this.#listener?.onError(
          new ValidationError('GP_ENDPOINTS_INVALID', this.#path, [
            { path: '', message: 'cannot read the file; keeping the last good endpoints' },
          ]),
        );
      this.#lastText = UNREADABLE;
      return;
    }
    if (text === this.#lastText) return;
    this.#lastText = text;
    try {
      this.#listener?.onSnapshot(parseEndpointsFile(text, this.#path));
    } catch (err) {
      this.#listener?.onError(err as Error);
    }
  }

  async close(): Promise<void> {
    this.#watcher?.close();
    clearInterval(this.#poll);
    clearTimeout(this.#debounce);
  }
}
