// Loads the configuration: defaults < YAML file < GLIDEPATH_* environment < command-line flags,
// validated in full (every error with its field path and where the value came from), then frozen.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { ConfigSchema, DURATION_FORMAT, ROLLOUT_STEP_FORMAT, type Config } from './schema.ts';
import { parseDuration } from '../core/duration.ts';
import { parseHostPort } from '../core/address.ts';
import { ValidationError, pointerToPath, type FieldError } from '../core/errors.ts';
import { parseCidr } from '../core/cidr.ts';

export const ENV_PREFIX = 'GLIDEPATH_';

/** One configurable value of the schema, found by walking it. */
export interface ConfigLeaf {
  readonly path: readonly string[];
  readonly schema: TSchema;
  /** GLIDEPATH_SERVER_HEADERS_TIMEOUT for server.headersTimeout. */
  readonly env: string;
}

export function configLeaves(schema: TSchema = ConfigSchema, prefix: readonly string[] = []): ConfigLeaf[] {
  const out: ConfigLeaf[] = [];
  for (const [key, child] of Object.entries((schema as unknown as { properties: Record<string, TSchema> }).properties)) {
    const path = [...prefix, key];
    if (child.type === 'object' && child.properties) out.push(...configLeaves(child, path));
    else
      out.push({
        path,
        schema: child,
        env: ENV_PREFIX + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_'),
      });
  }
  return out;
}

export interface ConfigSources {
  /** Path of a YAML (or JSON) config file. */
  readonly file?: string | undefined;
  /** Environment; only GLIDEPATH_* names are read. */
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** Values from flags by dotted path, e.g. { 'admin.listen': '127.0.0.1:9000' }. */
  readonly flags?: Readonly<Record<string, unknown>> | undefined;
}

type Doc = Record<string, unknown>;

/** Builds, validates and freezes the configuration; throws a ValidationError listing every problem. */
export function loadConfig(sources: ConfigSources = {}): Config {
  const errors: FieldError[] = [];
  const origin = new Map<string, string>();
  let doc: Doc = {};

  if (sources.file) {
    const fromFile = readDocument(sources.file, errors);
    if (fromFile !== undefined) {
      doc = fromFile;
      for (const leaf of configLeaves()) if (getPath(doc, leaf.path) !== undefined) origin.set(leaf.path.join('.'), sources.file);
    }
  }
  const leaves = configLeaves();
  for (const leaf of leaves) {
    const raw = sources.env?.[leaf.env];
    if (raw === undefined) continue;
    setPath(doc, leaf.path, fromEnvString(raw, leaf.schema));
    origin.set(leaf.path.join('.'), leaf.env);
  }
  for (const [path, value] of Object.entries(sources.flags ?? {})) {
    if (value === undefined) continue;
    setPath(doc, path.split('.'), value);
    origin.set(path, `--flag ${path}`);
  }

  if (errors.length === 0) {
    const withDefaults = Value.Default(ConfigSchema, structuredClone(doc)) as Doc;
    for (const e of Value.Errors(ConfigSchema, withDefaults)) {
      // A step is a union; its one "Expected union value" says nothing useful: rolloutStepErrors()
      // reports the field that is wrong instead.
      if (e.schema[ROLLOUT_STEP_FORMAT] === true) continue;
      const path = pointerToPath(e.path);
      const leafPath = path.replace(/\[\d+\]$/, '');
      const leaf = leaves.find((l) => l.path.join('.') === leafPath);
      const where = origin.get(leafPath) ?? 'defaults';
      errors.push({ path, message: `${describeError(e.message, leaf?.schema ?? e.schema, e.value)} (from ${where})` });
    }
    errors.push(...semanticErrors(withDefaults as unknown as Config));
    errors.push(...rolloutStepErrors(withDefaults.rollout, origin.get('rollout.steps') ?? 'defaults'));
    if (errors.length === 0) return deepFreeze(resolveDurations(withDefaults, ConfigSchema)) as unknown as Config;
  }
  throw new ValidationError('GP_CONFIG_INVALID', sources.file ? `config ${sources.file}` : 'config', dedupe(errors));
}

/** Reads a YAML/JSON document (JSON is YAML), reporting read and syntax errors with their line. */
export function readDocument(file: string, errors: FieldError[]): Doc | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    errors.push({ path: '', message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` });
    return undefined;
  }
  try {
    const value: unknown = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
    if (value === null || value === undefined) return {};
    if (typeof value !== 'object' || Array.isArray(value)) {
      errors.push({ path: '', message: `${file} must hold a mapping at the top level` });
      return undefined;
    }
    return value as Doc;
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : '';
    errors.push({ path: '', message: `${file} is not valid YAML${where}: ${(err as Error).message.split('\n')[0]}` });
    return undefined;
  }
}

function fromEnvString(raw: string, schema: TSchema): unknown {
  if (schema.type === 'integer' || schema.type === 'number') return raw.trim() !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  if (schema.type === 'boolean') return raw === 'true' || raw === '1' ? true : raw === 'false' || raw === '0' ? false : raw;
  // A list of objects (rollout.steps) comes as a YAML or JSON flow sequence: [{setWeight: 5}, {pause: {}}].
  if (schema.type === 'array' && raw.trim().startsWith('[')) {
    try {
      return parseYaml(raw) as unknown;
    } catch {
      return raw;
    }
  }
  if (schema.type === 'array')
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((item) => fromEnvString(item, schema.items as TSchema));
  if (schema[DURATION_FORMAT] === true && /^\d+$/.test(raw)) return Number(raw);
  return raw;
}

function describeError(message: string, schema: TSchema, value: unknown): string {
  const got = value === undefined ? '' : `; got ${JSON.stringify(value)}`;
  if (schema[DURATION_FORMAT] === true)
    return `expected a duration such as "500ms", "10s" or "2m", or a whole number of milliseconds${got}`;
  if (Array.isArray(schema.enum)) return `expected one of ${(schema.enum as string[]).join(', ')}${got}`;
  if (typeof schema.pattern === 'string' && schema.pattern.includes('\\d{1,5}')) return `expected "host:port"${got}`;
  if (message === 'Unexpected property') return 'unknown field (check the spelling; see the configuration reference)';
  return `${message}${got}`;
}

/** Checks the schema cannot express; tolerant of fields that already failed the schema. */
function semanticErrors(config: Config): FieldError[] {
  const errors: FieldError[] = [];
  const listen = typeof config.listen === 'string' ? parseHostPort(config.listen) : 'skip';
  const admin = typeof config.admin?.listen === 'string' ? parseHostPort(config.admin.listen) : 'skip';
  if (typeof listen === 'string' && listen !== 'skip') errors.push({ path: 'listen', message: listen });
  if (typeof admin === 'string' && admin !== 'skip') errors.push({ path: 'admin.listen', message: admin });
  if (
    typeof listen !== 'string' &&
    typeof admin !== 'string' &&
    listen.port !== 0 &&
    listen.port === admin.port &&
    sameHost(listen.host, admin.host)
  ) {
    errors.push({
      path: 'admin.listen',
      message: `must differ from listen (${config.listen}): the admin API is never reachable on the proxy port`,
    });
  }
  const headersTimeout = parseDuration(config.server?.headersTimeout as number | string);
  const requestTimeout = parseDuration(config.server?.requestTimeout as number | string);
  if (headersTimeout !== undefined && requestTimeout !== undefined && requestTimeout > 0 && headersTimeout > requestTimeout) {
    errors.push({ path: 'server.headersTimeout', message: `must not exceed server.requestTimeout (${config.server.requestTimeout})` });
  }
  const trusted: unknown = config.server?.trustedProxies;
  if (Array.isArray(trusted))
    trusted.forEach((entry: unknown, i) => {
      if (typeof entry === 'string' && parseCidr(entry) === undefined)
        errors.push({
          path: `server.trustedProxies[${i}]`,
          message: `expected an IP address or CIDR such as 10.0.0.0/8; got ${JSON.stringify(entry)}`,
        });
    });
  const k8s = config.kubernetes;
  if (typeof k8s?.service === 'string') {
    if (k8s.service !== '' && typeof config.endpoints?.file === 'string' && config.endpoints.file !== '') {
      errors.push({
        path: 'kubernetes.service',
        message: `set either kubernetes.service (discovery from Kubernetes) or endpoints.file (${config.endpoints.file}), not both`,
      });
    }
    if (k8s.service === '') {
      for (const key of ['deployment', 'port'] as const) {
        if (typeof k8s[key] === 'string' && k8s[key] !== '')
          errors.push({ path: `kubernetes.${key}`, message: 'needs kubernetes.service (the Service glidepath routes to)' });
      }
    }
    if (typeof k8s.port === 'string' && /^\d+$/.test(k8s.port) && (Number(k8s.port) < 1 || Number(k8s.port) > 65535)) {
      errors.push({ path: 'kubernetes.port', message: `port number out of range 1-65535; got ${k8s.port}` });
    }
  }
  return errors;
}

/**
 * rollout.steps field by field: each step is exactly one of {setWeight: 0..100} or {pause: {duration?}},
 * and setWeight never decreases (a canary's share only grows until the rollout ends or aborts).
 */
function rolloutStepErrors(rollout: unknown, where: string): FieldError[] {
  const steps = rollout !== null && typeof rollout === 'object' ? (rollout as Doc).steps : undefined;
  if (!Array.isArray(steps)) return [];
  const errors: FieldError[] = [];
  const push = (i: number, field: string, message: string): void =>
    void errors.push({ path: `rollout.steps[${i}]${field}`, message: `${message} (from ${where})` });
  let last = -1;
  let lastAt = -1;
  steps.forEach((step: unknown, i) => {
    const got = `; got ${JSON.stringify(step)}`;
    if (step === null || typeof step !== 'object' || Array.isArray(step))
      return push(i, '', `expected {setWeight: N} or {pause: {duration}}${got}`);
    const keys = Object.keys(step);
    if (keys.length !== 1 || (keys[0] !== 'setWeight' && keys[0] !== 'pause'))
      return push(i, '', `expected exactly one of setWeight, pause${got}`);
    const value = (step as Doc)[keys[0] as string];
    if (keys[0] === 'setWeight') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 100)
        return push(i, '.setWeight', `expected a whole percent 0..100; got ${JSON.stringify(value)}`);
      if (value < last) push(i, '.setWeight', `must not decrease: ${value} after ${last} at rollout.steps[${lastAt}]`);
      last = value;
      lastAt = i;
      return;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      return push(i, '.pause', `expected {duration: "30s"} or {} (hold until resumed); got ${JSON.stringify(value)}`);
    for (const [key, v] of Object.entries(value)) {
      if (key !== 'duration') push(i, `.pause.${key}`, 'unknown field (a pause has only duration)');
      else if ((typeof v !== 'string' && typeof v !== 'number') || parseDuration(v) === undefined)
        push(
          i,
          '.pause.duration',
          `expected a duration such as "30s" or "2m", or a whole number of milliseconds; got ${JSON.stringify(v)}`,
        );
    }
  });
  return errors;
}

function sameHost(a: string, b: string): boolean {
  const any = (h: string): boolean => h === '0.0.0.0' || h === '::' || isIP(h) === 0;
  return a === b || any(a) || any(b);
}

function resolveDurations(value: unknown, schema: TSchema): unknown {
  if (schema[DURATION_FORMAT] === true) return parseDuration(value as string | number);
  if (schema.type === 'array' && Array.isArray(value)) return value.map((item: unknown) => resolveDurations(item, schema.items as TSchema));
  // A union of objects (a rollout step): resolve through the variant the value matched.
  if (Array.isArray(schema.anyOf)) {
    const variant = (schema.anyOf as TSchema[]).find((s) => Value.Check(s, value));
    return variant ? resolveDurations(value, variant) : value;
  }
  if (schema.type === 'object' && schema.properties && value && typeof value === 'object') {
    const out: Doc = {};
    for (const [k, v] of Object.entries(value as Doc)) {
      const child = (schema.properties as Record<string, TSchema>)[k];
      out[k] = child ? resolveDurations(v, child) : v;
    }
    return out;
  }
  return value;
}

function getPath(doc: Doc, path: readonly string[]): unknown {
  let cur: unknown = doc;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Doc)[key];
  }
  return cur;
}

function setPath(doc: Doc, path: readonly string[], value: unknown): void {
  let cur = doc;
  for (const key of path.slice(0, -1)) {
    const next = cur[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[key] = {};
    cur = cur[key] as Doc;
  }
  cur[path[path.length - 1] as string] = value;
}

function dedupe(errors: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.path}\0${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
