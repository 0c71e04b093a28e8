// The simulated EndpointSlice controller: one or more slices per Service with the ready, serving and
// terminating conditions, resolved target ports, labels and owner reference of KEP-1672 and the endpointslice controller, and an
// optional propagation delay that mimics a real cluster's lag.

import { canonicalJson, clone, getPath, isObject, ownerRefTo } from '../api/objects.ts';
import type { JsonObject, KObject } from '../api/objects.ts';
import { T } from '../api/resources.ts';
import { matchesLabels } from '../api/selectors.ts';
import type { Change } from '../api/store.ts';
import { isPodReady, podPhase } from './pod-util.ts';
import { nsKey, splitKey } from './queue.ts';
import { Controller } from './controller.ts';
import type { ControllerDeps } from './controller.ts';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
const MANAGED_BY = 'endpointslice-controller.k8s.io';
const TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';
const MAX_ENDPOINTS_PER_SLICE = 100;

interface EndpointPort {
  name: string;
  port: number;
  protocol: string;
  appProtocol?: string;
}

interface Endpoint {
  addresses: string[];
  conditions: { ready: boolean; serving: boolean; terminating: boolean };
  hostname?: string;
  targetRef: { kind: 'Pod'; namespace: string; name: string; uid: string };
  nodeName?: string;
}

interface Slice extends KObject {
  addressType: string;
  endpoints: Endpoint[] | null;
  ports: EndpointPort[] | null;
}

function selectorOf(svc: KObject): [string, string][] | undefined {
  const sel = getPath(svc, ['spec', 'selector']);
  if (!isObject(sel) || Object.keys(sel).length === 0) return undefined;
  return Object.entries(sel).map(([k, v]) => [k, String(v)]);
}

function selects(sel: [string, string][], labels: Record<string, string> | undefined): boolean {
  return matchesLabels(
    sel.map(([key, v]) => ({ key, op: '=', values: [v] })),
    labels,
  );
}

/** RFC 3339 with nanosecond precision and trailing zeros trimmed, as Go's RFC3339Nano prints. */
function rfc3339Nano(ms: number): string {
  return new Date(ms).toISOString().replace(/\.?0+Z$/, 'Z');
}

export class EndpointSliceController extends Controller {
  readonly #delayMs: number;

  constructor(deps: ControllerDeps, delayMs: number) {
    super('endpointslice', deps);
    this.#delayMs = delayMs;
  }

  #enqueue(key: string): void {
    if (this.#delayMs > 0) this.queue.addDebounced(key, this.#delayMs, 3 * this.#delayMs);
    else this.queue.add(key);
  }

  override observe(c: Change): void {
    const ns = c.object.metadata.namespace;
    if (c.rt === T.services) this.#enqueue(nsKey(ns, c.object.metadata.name));
    else if (c.rt === T.pods) {
      for (const svc of this.registry.store.peekAll(T.services, ns)) {
        const sel = selectorOf(svc);
        if (sel && (selects(sel, c.object.metadata.labels) || (c.old && selects(sel, c.old.metadata.labels))))
          this.#enqueue(nsKey(ns, svc.metadata.name));
      }
    } else if (c.rt === T.endpointslices && c.object.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY) {
      const svc = c.object.metadata.labels[SERVICE_NAME_LABEL];
      if (svc) this.#enqueue(nsKey(ns, svc));
    }
  }

  protected sync(key: string): void {
    const [namespace, name] = splitKey(key);
    const svc = this.registry.store.get(T.services, namespace, name);
    if (!svc || svc.metadata.deletionTimestamp) return;
    const sel = selectorOf(svc);
    if (!sel) return;
    const existing = (this.registry.store.list(T.endpointslices, namespace) as Slice[]).filter(
      (s) => s.metadata.labels?.[SERVICE_NAME_LABEL] === name && s.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY,
    );
    const desired = this.#desiredEndpoints(svc, sel);
    this.#reconcile(svc, existing, desired);
  }

  /** Endpoints grouped by their resolved port list (pods that resolve named ports differently get separate slices). */
  #desiredEndpoints(svc: KObject, sel: [string, string][]): Map<string, { ports: EndpointPort[]; endpoints: Map<string, Endpoint> }> {
    const spec = svc.spec as JsonObject;
    const publishNotReady = spec.publishNotReadyAddresses === true;
    const svcPorts = (Array.isArray(spec.ports) ? spec.ports : []).filter(isObject);
    const groups = new Map<string, { ports: EndpointPort[]; endpoints: Map<string, Endpoint> }>();
    for (const pod of this.registry.store.peekAll(T.pods, svc.metadata.namespace)) {
      if (!selects(sel, pod.metadata.labels)) continue;
      const ip = getPath(pod, ['status', 'podIP']);
      const phase = podPhase(pod);
      if (typeof ip !== 'string' || !ip || phase === 'Succeeded' || phase === 'Failed') continue;
      const ports: EndpointPort[] = [];
      for (const sp of svcPorts) {
        const port = resolveTargetPort(sp.targetPort ?? sp.port, pod);
        if (port === undefined) continue;
        ports.push({
          name: typeof sp.name === 'string' ? sp.name : '',
          port,
          protocol: String(sp.protocol ?? 'TCP'),
          ...(typeof sp.appProtocol === 'string' ? { appProtocol: sp.appProtocol } : {}),
        });
      }
      const serving = isPodReady(pod);
      const terminating = pod.metadata.deletionTimestamp !== undefined;
      const podSpec = pod.spec as JsonObject;
      const endpoint: Endpoint = {
        addresses: [ip],
        conditions: { ready: publishNotReady || (serving && !terminating), serving, terminating },
        ...(podSpec.hostname && podSpec.subdomain === svc.metadata.name ? { hostname: String(podSpec.hostname) } : {}),
        targetRef: { kind: 'Pod', namespace: pod.metadata.namespace ?? '', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' },
        ...(podSpec.nodeName ? { nodeName: String(podSpec.nodeName) } : {}),
      };
      const k = canonicalJson(ports);
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { ports, endpoints: new Map() }));
      g.endpoints.set(pod.metadata.uid ?? '', endpoint);
    }
    return groups;
  }

  #reconcile(svc: KObject, existing: Slice[], desired: Map<string, { ports: EndpointPort[]; endpoints: Map<string, Endpoint> }>): void {
    const toWrite: Slice[] = [];
    const toDelete = new Set(existing);
    for (const [portsKey, group] of desired) {
      const slices = existing.filter((s) => canonicalJson(s.ports ?? []) === portsKey && (s.endpoints ?? []).length > 0);
      const placed = new Set<string>();
      const filled: Slice[] = [];
      for (const s of slices) {
        const kept = (s.endpoints ?? []).flatMap((e) => {
          const next = group.endpoints.get(e.targetRef.uid);
          if (!next || placed.has(e.targetRef.uid)) return [];
          placed.add(e.targetRef.uid);
          return [next];
        });
        if (kept.length === 0) continue;
        toDelete.delete(s);
        filled.push({ ...clone(s), endpoints: kept });
      }
      for (const [uid, e] of group.endpoints) {
        if (placed.has(uid)) continue;
        let target = filled.find((s) => (s.endpoints ?? []).length < MAX_ENDPOINTS_PER_SLICE);
        if (!target) filled.push((target = this.#newSlice(svc, group.ports)));
        (target.endpoints ??= []).push(e);
      }
      toWrite.push(...filled);
    }
    if (toWrite.length === 0) {
      // No endpoints at all: the real controller keeps exactly one placeholder slice.
      const placeholder = existing.find((s) => (s.endpoints ?? []).length === 0 && (s.ports ?? []).length === 0);
      if (placeholder) toDelete.delete(placeholder);
      toWrite.push({ ...(placeholder ? clone(placeholder) : this.#newSlice(svc, [])), endpoints: null, ports: null });
    }
    for (const s of toWrite)
      this.#write(
        svc,
        s,
        existing.find((e) => e.metadata.uid !== undefined && e.metadata.uid === s.metadata.uid),
      );
    for (const s of toDelete) {
      try {
        this.registry.delete(T.endpointslices, s.metadata.namespace, s.metadata.name ?? '', {});
      } catch {
        // Already gone.
      }
    }
  }

  #newSlice(svc: KObject, ports: EndpointPort[]): Slice {
    return {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        generateName: `${svc.metadata.name}-`,
        namespace: svc.metadata.namespace,
        ownerReferences: [ownerRefTo(svc, 'v1', 'Service')],
      },
      addressType: 'IPv4',
      endpoints: [],
      ports,
    };
  }

  #write(svc: KObject, slice: Slice, before: Slice | undefined): void {
    const labels: Record<string, string> = {
      ...(svc.metadata.labels ?? {}),
      [SERVICE_NAME_LABEL]: svc.metadata.name ?? '',
      [MANAGED_BY_LABEL]: MANAGED_BY,
    };
    if (getPath(svc, ['spec', 'clusterIP']) === 'None') labels['service.kubernetes.io/headless'] = '';
    slice.metadata.labels = labels;
    if (
      before &&
      canonicalJson({ e: before.endpoints, p: before.ports, l: before.metadata.labels }) ===
        canonicalJson({ e: slice.endpoints, p: slice.ports, l: labels })
    )
      return;
    slice.metadata.annotations = { ...(slice.metadata.annotations ?? {}), [TRIGGER_TIME]: rfc3339Nano(Date.now()) };
    if (before)
      this.registry.update(T.endpointslices, slice.metadata.namespace, slice.metadata.name ?? '', {
        ...slice,
        metadata: { ...slice.metadata, resourceVersion: undefined },
      });
    else this.registry.create(T.endpointslices, slice.metadata.namespace, slice);
  }
}

/** A Service targetPort: a number as is, a name looked up in the pod's container ports (undefined if absent). */
function resolveTargetPort(target: unknown, pod: KObject): number | undefined {
  if (typeof target === 'number') return target;
  if (typeof target !== 'string') return undefined;
  if (/^\d+$/.test(target)) return Number(target);
  const containers = getPath(pod, ['spec', 'containers']);
  for (const c of Array.isArray(containers) ? containers : []) {
    const ports = isObject(c) && Array.isArray(c.ports) ? c.ports : [];
    for (const p of ports) if (isObject(p) && p.name === target && typeof p.containerPort === 'number') return p.containerPort;
  }
  return undefined;
}
