// The three patch types the apiserver accepts: JSON patch (RFC 6902), JSON merge patch (RFC 7386)
// and strategic merge patch with the merge keys of the built-in types (their patchMergeKey tags in k8s.io/api).

import { ApiError, badRequest } from './errors.ts';
import { clone, isObject } from './objects.ts';
import type { JsonObject } from './objects.ts';

export const JSON_PATCH = 'application/json-patch+json';
export const MERGE_PATCH = 'application/merge-patch+json';
export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';

function patchFailed(message: string): ApiError {
  return new ApiError(422, 'Invalid', message);
}

// ---- RFC 6902 ----------------------------------------------------------------

function pointer(path: unknown): string[] {
  if (typeof path !== 'string' || (path !== '' && !path.startsWith('/'))) throw badRequest(`invalid JSON pointer: ${JSON.stringify(path)}`);
  return path === ''
    ? []
    : path
        .slice(1)
        .split('/')
        .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = JsonObject | unknown[];

function resolveParent(doc: unknown, tokens: string[], op: string, path: string): { parent: Container; key: string } {
  let cur: unknown = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (isObject(cur)) cur = cur[t];
    else cur = undefined;
    if (cur === undefined || cur === null)
      throw patchFailed(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
  }
  if (!Array.isArray(cur) && !isObject(cur))
    throw patchFailed(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
  return { parent: cur, key: tokens[tokens.length - 1] as string };
}

function readAt(doc: unknown, path: string, op: string): unknown {
  const tokens = pointer(path);
  if (tokens.length === 0) return doc;
  const { parent, key } = resolveParent(doc, tokens, op, path);
  const value = Array.isArray(parent) ? parent[Number(key)] : parent[key];
  if (value === undefined) throw patchFailed(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
  return value;
}

function arrayIndex(parent: unknown[], key: string, forInsert: boolean, path: string): number {
  if (forInsert && key === '-') return parent.length;
  if (!/^(0|[1-9]\d*)$/.test(key)) throw patchFailed(`invalid array index in "${path}"`);
  const i = Number(key);
  if (i > parent.length || (!forInsert && i === parent.length)) throw patchFailed(`array index out of bounds in "${path}"`);
  return i;
}

export function applyJsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let root = clone(doc);
  const setAt = (path: string, value: unknown, op: string, insert: boolean): void => {
    const tokens = pointer(path);
    if (tokens.length === 0) {
      root = value;
      return;
    }
    const { parent, key } = resolveParent(root, tokens, op, path);
    if (Array.isArray(parent)) {
      const i = arrayIndex(parent, key, insert, path);
      if (insert) parent.splice(i, 0, value);
      else parent[i] = value;
    } else {
      if (!insert && !Object.hasOwn(parent, key))
        throw patchFailed(`replace operation does not apply: doc is missing key: ${path}: missing value`);
      parent[key] = value;
    }
  };
  const removeAt = (path: string, op: string): unknown => {
    const tokens = pointer(path);
    const { parent, key } = resolveParent(root, tokens, op, path);
    if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, key, false, path), 1)[0];
    if (!Object.hasOwn(parent, key)) throw patchFailed(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
    const v = parent[key];
    delete parent[key];
    return v;
  };
  for (const raw of ops) {
    if (!isObject(raw)) throw badRequest('json: cannot unmarshal patch operation');
    const op = String(raw.op);
    const path = String(raw.path);
    switch (op) {
      case 'add':
        setAt(path, clone(raw.value), op, true);
        break;
      case 'replace':
        setAt(path, clone(raw.value), op, false);
        break;
      case 'remove':
        removeAt(path, op);
        break;
      case 'move':
        setAt(path, removeAt(String(raw.from), op), op, true);
        break;
      case 'copy':
        setAt(path, clone(readAt(root, String(raw.from), op)), op, true);
        break;
      case 'test':
        if (JSON.stringify(readAt(root, path, op)) !== JSON.stringify(raw.value))
          throw patchFailed(`testing value ${path} failed: test failed`);
        break;
      default:
        throw badRequest(`Unexpected kind: ${op}`);
    }
  }
  return root;
}

// ---- RFC 7386 ----------------------------------------------------------------

export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const result: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else result[k] = applyMergePatch(result[k], v);
  }
  return result;
}

// ---- strategic merge patch ---------------------------------------------------

interface ListStrategy {
  /** The merge key of a list of objects; undefined with merge=true means a set of primitives. */
  key?: string;
  merge: boolean;
}

const CONTAINER_LISTS = new Set(['containers', 'initContainers', 'ephemeralContainers']);
const NAME_KEYED = new Set([...CONTAINER_LISTS, 'env', 'volumes', 'imagePullSecrets', 'resourceClaims', 'secrets']);

/** The `patchStrategy`/`patchMergeKey` tags of the Go types, looked up by field name and context. */
function listStrategy(kind: string, path: readonly string[]): ListStrategy {
  const field = path[path.length - 1] ?? '';
  const parent = path[path.length - 2] ?? '';
  if (NAME_KEYED.has(field)) return { key: 'name', merge: true };
  if (field === 'volumeMounts') return { key: 'mountPath', merge: true };
  if (field === 'volumeDevices') return { key: 'devicePath', merge: true };
  if (field === 'ports' && CONTAINER_LISTS.has(parent)) return { key: 'containerPort', merge: true };
  if (field === 'ports' && kind === 'Service' && path.length === 2) return { key: 'port', merge: true };
  if (field === 'ownerReferences') return { key: 'uid', merge: true };
  if (field === 'conditions' && parent === 'status') return { key: 'type', merge: true };
  if (field === 'podIPs' || field === 'hostIPs') return { key: 'ip', merge: true };
  if (field === 'hostAliases') return { key: 'ip', merge: true };
  if (field === 'topologySpreadConstraints') return { key: 'topologyKey', merge: true };
  if (field === 'finalizers' && parent === 'metadata') return { merge: true };
  return { merge: false };
}

export function applyStrategicMergePatch(original: unknown, patch: unknown, kind: string): unknown {
  if (!isObject(patch)) throw badRequest('json: cannot unmarshal array into Go value of type map[string]interface {}');
  return mergeMap(isObject(original) ? original : undefined, patch, [], kind) ?? {};
}

function isDirectiveKey(k: string): boolean {
  return k.startsWith('$');
}

function mergeMap(orig: JsonObject | undefined, patch: JsonObject, path: string[], kind: string): JsonObject | undefined {
  if (patch.$patch === 'delete') return undefined;
  if (patch.$patch === 'replace') return mergeMap(undefined, { ...patch, $patch: undefined }, path, kind);
  const result: JsonObject = orig ? clone(orig) : {};
  const orders = new Map<string, unknown[]>();
  const deletions = new Map<string, unknown[]>();
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    if (k.startsWith('$setElementOrder/') && Array.isArray(v)) {
      orders.set(k.slice('$setElementOrder/'.length), v);
      continue;
    }
    if (k.startsWith('$deleteFromPrimitiveList/') && Array.isArray(v)) {
      deletions.set(k.slice('$deleteFromPrimitiveList/'.length), v);
      continue;
    }
    if (isDirectiveKey(k)) continue;
    const childPath = [...path, k];
    if (v === null) delete result[k];
    else if (isObject(v)) {
      const merged = mergeMap(isObject(result[k]) ? result[k] : undefined, v, childPath, kind);
      if (merged === undefined) delete result[k];
      else result[k] = merged;
    } else if (Array.isArray(v)) result[k] = mergeList(result[k], v, childPath, kind);
    else result[k] = v;
  }
  for (const [field, values] of deletions) {
    const list = result[field];
    if (Array.isArray(list)) result[field] = list.filter((x) => !values.some((d) => JSON.stringify(d) === JSON.stringify(x)));
  }
  for (const [field, order] of orders) {
    const list = result[field];
    if (Array.isArray(list)) result[field] = reorder(list, order, listStrategy(kind, [...path, field]).key);
  }
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set(patch.$retainKeys.map(String));
    for (const k of Object.keys(result)) if (!keep.has(k)) delete result[k];
  }
  return result;
}

function mergeList(orig: unknown, patch: unknown[], path: string[], kind: string): unknown[] {
  const strategy = listStrategy(kind, path);
  const replace = patch.some((x) => isObject(x) && x.$patch === 'replace');
  const items = patch.filter((x) => !(isObject(x) && x.$patch === 'replace' && Object.keys(x).length === 1));
  const clean = (x: unknown): unknown => (isObject(x) ? mergeMap(undefined, x, path, kind) : x);
  if (!strategy.merge || replace || !Array.isArray(orig)) {
    return items.filter((x) => !(isObject(x) && x.$patch === 'delete')).map(clean);
  }
  const result = clone(orig);
  if (strategy.key === undefined) {
    for (const x of items) if (!result.some((y) => JSON.stringify(y) === JSON.stringify(x))) result.push(x);
    return result;
  }
  const key = strategy.key;
  for (const item of items) {
    if (!isObject(item)) continue;
    const at = result.findIndex((el) => isObject(el) && el[key] === item[key]);
    if (item.$patch === 'delete') {
      if (at >= 0) result.splice(at, 1);
      continue;
    }
    if (at >= 0) {
      const merged = mergeMap(result[at] as JsonObject, item, path, kind);
      if (merged === undefined) result.splice(at, 1);
      else result[at] = merged;
    } else result.push(clean(item));
  }
  return result;
}

/** `$setElementOrder`: the listed elements first, in the given order, then the rest as they were. */
function reorder(list: unknown[], order: unknown[], key: string | undefined): unknown[] {
  const id = (x: unknown): string => JSON.stringify(key !== undefined && isObject(x) ? x[key] : x);
  const rank = new Map(order.map((o, i) => [id(o), i]));
  const listed = list.filter((x) => rank.has(id(x))).sort((a, b) => (rank.get(id(a)) as number) - (rank.get(id(b)) as number));
  return [...listed, ...list.filter((x) => !rank.has(id(x)))];
}
