// Validation of the simulated API server: the checks a real apiserver makes that clients run into
// (names, selectors, templates, rolling-update bounds, immutable fields, MicroTime decoding).

import { badRequest, invalid } from './errors.ts';
import type { FieldProblem } from './errors.ts';
import { canonicalJson, getPath, isObject } from './objects.ts';
import type { JsonObject, KObject } from './objects.ts';
import type { ResourceType } from './resources.ts';
import { fromLabelSelector, matchesLabels } from './selectors.ts';

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Kinds whose names must be DNS-1123 labels rather than subdomains. */
const LABEL_NAMED = new Set(['Namespace', 'Service']);
/** RBAC names are path segments, so anything without '/' or '%' is allowed. */
const PATH_NAMED = new Set(['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding']);

function required(field: string): FieldProblem {
  return { reason: 'FieldValueRequired', field, detail: 'Required value' };
}

/** Values as Go's %#v prints them in apiserver messages (`map[string]string{"app":"y"}`). */
function goValue(value: unknown): string {
  if (isObject(value) && Object.values(value).every((v) => typeof v === 'string')) {
    return `map[string]string{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`)
      .join(', ')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function invalidValue(field: string, value: unknown, why: string): FieldProblem {
  return { reason: 'FieldValueInvalid', field, detail: `Invalid value: ${goValue(value)}: ${why}` };
}

function validateName(o: KObject, problems: FieldProblem[]): void {
  const name = o.metadata.name ?? '';
  if (PATH_NAMED.has(o.kind ?? '')) {
    if (/[/%]/.test(name) || name === '.' || name === '..')
      problems.push(invalidValue('metadata.name', name, "may not contain '/' or '%'"));
    return;
  }
  if (LABEL_NAMED.has(o.kind ?? '')) {
    if (name.length > 63 || !DNS1123_LABEL.test(name)) {
      problems.push(
        invalidValue(
          'metadata.name',
          name,
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        ),
      );
    }
    return;
  }
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    problems.push(
      invalidValue(
        'metadata.name',
        name,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      ),
    );
  }
}

function validateContainers(spec: unknown, at: string, problems: FieldProblem[]): void {
  const containers = isObject(spec) ? spec.containers : undefined;
  if (!Array.isArray(containers) || containers.length === 0) {
    problems.push(required(`${at}.containers`));
    return;
  }
  containers.forEach((c, i) => {
    if (!isObject(c) || typeof c.name !== 'string' || c.name === '') problems.push(required(`${at}.containers[${i}].name`));
    if (!isObject(c) || typeof c.image !== 'string' || c.image === '') problems.push(required(`${at}.containers[${i}].image`));
  });
}

function percentOrInt(value: unknown, field: string, problems: FieldProblem[]): void {
  if (typeof value === 'number') {
    if (value < 0) problems.push(invalidValue(field, value, 'must be greater than or equal to 0'));
  } else if (typeof value === 'string') {
    if (!/^\d+%$/.test(value))
      problems.push(
        invalidValue(
          field,
          value,
          "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
        ),
      );
    else if (Number(value.slice(0, -1)) > 100 && field.endsWith('maxUnavailable'))
      problems.push(invalidValue(field, value, 'must not be greater than 100%'));
  }
}

function isZero(v: unknown): boolean {
  return v === 0 || v === '0%';
}

function validateWorkload(o: KObject, old: KObject | undefined, problems: FieldProblem[]): void {
  const spec = isObject(o.spec) ? o.spec : {};
  if (!isObject(spec.selector)) problems.push(required('spec.selector'));
  else {
    const sel = fromLabelSelector(spec.selector);
    const labels = getPath(spec, ['template', 'metadata', 'labels']) as Record<string, string> | undefined;
    if (sel.length === 0) problems.push(invalidValue('spec.selector', spec.selector, 'empty selector is invalid for deployment'));
    else if (!matchesLabels(sel, labels))
      problems.push(invalidValue('spec.template.metadata.labels', labels ?? {}, '`selector` does not match template `labels`'));
    if (old && canonicalJson(getPath(old, ['spec', 'selector'])) !== canonicalJson(spec.selector)) {
      problems.push(invalidValue('spec.selector', spec.selector, 'field is immutable'));
    }
  }
  if (typeof spec.replicas === 'number' && spec.replicas < 0)
    problems.push(invalidValue('spec.replicas', spec.replicas, 'must be greater than or equal to 0'));
  validateContainers(getPath(spec, ['template', 'spec']), 'spec.template.spec', problems);
  if (o.kind !== 'Deployment') return;
  const strategy = isObject(spec.strategy) ? spec.strategy : {};
  if (strategy.type === 'Recreate' && strategy.rollingUpdate !== undefined && strategy.rollingUpdate !== null) {
    problems.push({
      reason: 'FieldValueForbidden',
      field: 'spec.strategy.rollingUpdate',
      detail: "Forbidden: may not be specified when strategy `type` is 'Recreate'",
    });
  } else if (strategy.type !== 'Recreate' && strategy.type !== 'RollingUpdate') {
    problems.push({
      reason: 'FieldValueNotSupported',
      field: 'spec.strategy.type',
      detail: `Unsupported value: ${JSON.stringify(strategy.type)}: supported values: "Recreate", "RollingUpdate"`,
    });
  }
  const ru = isObject(strategy.rollingUpdate) ? strategy.rollingUpdate : undefined;
  if (ru) {
    percentOrInt(ru.maxSurge, 'spec.strategy.rollingUpdate.maxSurge', problems);
    percentOrInt(ru.maxUnavailable, 'spec.strategy.rollingUpdate.maxUnavailable', problems);
    if (isZero(ru.maxSurge) && isZero(ru.maxUnavailable)) {
      problems.push(invalidValue('spec.strategy.rollingUpdate.maxUnavailable', ru.maxUnavailable, 'may not be 0 when `maxSurge` is 0'));
    }
  }
}

/** Validates on create (`old` undefined) and update; throws 422 Invalid listing every problem. */
export function validate(rt: ResourceType, o: KObject, old: KObject | undefined): void {
  const problems: FieldProblem[] = [];
  if (!old) validateName(o, problems);
  switch (o.kind) {
    case 'Deployment':
    case 'ReplicaSet':
      validateWorkload(o, old, problems);
      break;
    case 'Pod':
      validateContainers(o.spec, 'spec', problems);
      break;
    case 'Service': {
      const spec = isObject(o.spec) ? o.spec : {};
      const ports = Array.isArray(spec.ports) ? spec.ports : [];
      if (ports.length === 0 && spec.clusterIP !== 'None' && spec.type !== 'ExternalName') problems.push(required('spec.ports'));
      ports.forEach((p, i) => {
        if (!isObject(p) || typeof p.port !== 'number') problems.push(required(`spec.ports[${i}].port`));
      });
      break;
    }
  }
  if (problems.length > 0) throw invalid(rt, o.metadata.name ?? '', problems);
}

const MICROTIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;
const MICROTIME_FIELDS: Record<string, string[][]> = {
  Lease: [
    ['spec', 'acquireTime'],
    ['spec', 'renewTime'],
  ],
  Event: [['eventTime']],
};

/**
 * `metav1.MicroTime` decodes with Go's layout "2006-01-02T15:04:05.000000Z07:00": anything but six
 * fractional digits fails decoding, which the apiserver answers with 400 (kubernetes-client/javascript#828).
 */
export function checkMicroTimes(rt: ResourceType, o: JsonObject): void {
  for (const path of MICROTIME_FIELDS[rt.kind] ?? []) {
    const v = getPath(o, path);
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' || !MICROTIME.test(v)) {
      const text = String(v);
      const frac = /(\.\d*)?(Z|[+-]\d{2}:\d{2})?$/.exec(text.slice(19))?.[0] ?? text;
      throw badRequest(
        `${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: parsing time "${text}" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "${frac}" as ".000000"`,
      );
    }
  }
}
