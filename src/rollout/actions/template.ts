// Pure pieces of `kubectl rollout undo` (kubectl pkg/polymorphichelpers/rollback.go): pod template
// equality ignoring the hash label, the annotations a rollback writes, and label selectors as query
// strings. No I/O, so they are tested without a cluster.

/** The label the Deployment controller adds to each ReplicaSet's template and selector. */
export const POD_TEMPLATE_HASH = 'pod-template-hash';
export const REVISION = 'deployment.kubernetes.io/revision';

/** Annotations every glidepath record uses; the rollback keeps the Deployment's own (see below). */
export const GLIDEPATH_ANNOTATION_PREFIX = 'glidepath.io/';

/**
 * rollback.go `annotationsToSkip`: kept from the Deployment, never copied from the ReplicaSet.
 * `deprecated.deployment.rollback.to` is appsv1.DeprecatedRollbackTo.
 */
export const ANNOTATIONS_TO_SKIP: ReadonlySet<string> = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  'deprecated.deployment.rollback.to',
  'deployment.kubernetes.io/revision',
  'deployment.kubernetes.io/revision-history',
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
]);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * JSON with what apimachinery's semantic equality treats as absent removed: null, empty lists and
 * empty maps (a template read back carries `creationTimestamp: null`, and `{}` and absent decode to
 * the same Go value for the non-pointer structs of a pod template). Undefined means "nothing".
 */
function prune(v: unknown): Json | undefined {
  if (v === null || v === undefined) return undefined;
  if (Array.isArray(v)) {
    const items = v.map((x) => prune(x) ?? null);
    return items.length === 0 ? undefined : items;
  }
  if (typeof v === 'object') {
    const out: { [k: string]: Json } = {};
    for (const k of Object.keys(v as object).sort()) {
      const p = prune((v as Record<string, unknown>)[k]);
      if (p !== undefined) out[k] = p;
    }
    return Object.keys(out).length === 0 ? undefined : out;
  }
  return v as Json;
}

/** The value as semantic equality sees it: nulls and empty lists and maps gone, keys sorted. */
export function semanticForm(v: unknown): unknown {
  return prune(v) ?? null;
}

/** Semantic equality of two API values (null, absent and empty are equal; key order never matters). */
export function semanticEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(semanticForm(a)) === JSON.stringify(semanticForm(b));
}

interface TemplateLike {
  metadata?: { labels?: Record<string, string> | null; [k: string]: unknown } | null;
  [k: string]: unknown;
}

/** A deep copy of a pod template without the pod-template-hash label (what undo writes back). */
export function withoutHashLabel<T extends TemplateLike>(template: T): T {
  const copy = structuredClone(template);
  const labels = copy.metadata?.labels;
  if (labels && POD_TEMPLATE_HASH in labels) {
    delete labels[POD_TEMPLATE_HASH];
  }
  return copy;
}

/** rollback.go `equalIgnoreHash`. */
export function equalIgnoreHash(a: TemplateLike, b: TemplateLike): boolean {
  return semanticEqual(withoutHashLabel(a), withoutHashLabel(b));
}

/**
 * The Deployment annotations after a rollback. kubectl keeps the skip-list annotations of the
 * Deployment and takes every other annotation from the target ReplicaSet (which the Deployment
 * controller copied from the Deployment while that ReplicaSet was the new one).
 *
 * One deliberate difference: glidepath's own `glidepath.io/*` annotations are kept from the
 * Deployment and never taken from the ReplicaSet. The ReplicaSet holds the copies from the time it
 * was last new, so taking them would put a stale rollout state back and erase the abort record
 * written for this very rollback.
 */
export function rollbackAnnotations(
  deployment: Record<string, string> | undefined,
  replicaSet: Record<string, string> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(deployment ?? {})) {
    if (ANNOTATIONS_TO_SKIP.has(k) || k.startsWith(GLIDEPATH_ANNOTATION_PREFIX)) out[k] = v;
  }
  for (const [k, v] of Object.entries(replicaSet ?? {})) {
    if (!ANNOTATIONS_TO_SKIP.has(k) && !k.startsWith(GLIDEPATH_ANNOTATION_PREFIX)) out[k] = v;
  }
  return out;
}

export interface LabelSelector {
  matchLabels?: Record<string, string> | null;
  matchExpressions?: { key: string; operator: string; values?: string[] | null }[] | null;
}

/** metav1.LabelSelector as the `labelSelector` query string (`app=web,tier in (a,b),!canary`). */
export function labelSelectorString(selector: LabelSelector | undefined): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {})) parts.push(`${k}=${v}`);
  for (const e of selector?.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort().join(',');
    switch (e.operator) {
      case 'In':
        parts.push(`${e.key} in (${values})`);
        break;
      case 'NotIn':
        parts.push(`${e.key} notin (${values})`);
        break;
      case 'Exists':
        parts.push(e.key);
        break;
      case 'DoesNotExist':
        parts.push(`!${e.key}`);
        break;
      default:
        throw new Error(`label selector operator ${JSON.stringify(e.operator)} is not one of In, NotIn, Exists, DoesNotExist`);
    }
  }
  return parts.join(',');
}

/** Annotation keys: an optional DNS-subdomain prefix and `/`, then a name of at most 63 characters. */
export function checkAnnotationKey(key: string): string | undefined {
  const m = /^(?:([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)\/)?([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/.exec(
    key,
  );
  if (!m) return `annotation key ${JSON.stringify(key)} is not a qualified name ([prefix/]name: alphanumerics, '-', '_', '.')`;
  if ((m[1]?.length ?? 0) > 253) return `annotation key ${JSON.stringify(key)} has a prefix longer than 253 characters`;
  if ((m[5]?.length ?? 0) > 63) return `annotation key ${JSON.stringify(key)} has a name longer than 63 characters`;
  return undefined;
}
