// The environment of a pod's container process: the demo app's contract (HOST, PORT, POD_NAME,
// APP_VERSION from the image tag) plus the container's env and envFrom, resolved as a kubelet does.

import { Buffer } from 'node:buffer';
import { getPath, isObject } from '../api/objects.ts';
import type { JsonObject, KObject } from '../api/objects.ts';
import type { Registry } from '../api/registry.ts';
import { T } from '../api/resources.ts';

/** `demo:v2` → `v2`; `registry:5000/team/demo` → `latest`; digests are ignored. */
export function imageTag(image: string): string {
  const withoutDigest = image.split('@')[0] as string;
  const slash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  return colon > slash ? withoutDigest.slice(colon + 1) : 'latest';
}

export function firstContainerPort(container: JsonObject): number | undefined {
  const ports = Array.isArray(container.ports) ? container.ports : [];
  const p = ports.find((x) => isObject(x) && typeof x.containerPort === 'number');
  return isObject(p) ? (p.containerPort as number) : undefined;
}

function fieldRef(pod: KObject, path: string): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return String(getPath(pod, ['metadata', m[1] as string, m[2] as string]) ?? '');
  return String(getPath(pod, path.split('.')) ?? '');
}

function keyRef(registry: Registry, namespace: string, ref: unknown, secret: boolean): string | undefined {
  if (!isObject(ref)) return undefined;
  const o = registry.store.get(secret ? T.secrets : T.configmaps, namespace, String(ref.name));
  const v = getPath(o, [secret ? 'data' : 'data', String(ref.key)]);
  if (typeof v !== 'string') return undefined;
  return secret ? Buffer.from(v, 'base64').toString('utf8') : v;
}

export function containerEnv(registry: Registry, pod: KObject, container: JsonObject, podIp: string): Record<string, string> {
  const namespace = pod.metadata.namespace ?? 'default';
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOSTNAME: pod.metadata.name ?? '',
    APP_VERSION: imageTag(String(container.image ?? '')),
  };
  for (const from of Array.isArray(container.envFrom) ? container.envFrom : []) {
    if (!isObject(from)) continue;
    const prefix = typeof from.prefix === 'string' ? from.prefix : '';
    const secret = isObject(from.secretRef);
    const ref = secret ? from.secretRef : from.configMapRef;
    if (!isObject(ref)) continue;
    const data = getPath(registry.store.get(secret ? T.secrets : T.configmaps, namespace, String(ref.name)), ['data']);
    if (!isObject(data)) continue;
    for (const [k, v] of Object.entries(data)) env[prefix + k] = secret ? Buffer.from(String(v), 'base64').toString('utf8') : String(v);
  }
  for (const e of Array.isArray(container.env) ? container.env : []) {
    if (!isObject(e) || typeof e.name !== 'string') continue;
    if (typeof e.value === 'string') env[e.name] = e.value;
    else if (isObject(e.valueFrom)) {
      const vf = e.valueFrom;
      const path = getPath(vf, ['fieldRef', 'fieldPath']);
      const v =
        typeof path === 'string'
          ? path === 'status.podIP'
            ? podIp
            : fieldRef(pod, path)
          : vf.configMapKeyRef
            ? keyRef(registry, namespace, vf.configMapKeyRef, false)
            : vf.secretKeyRef
              ? keyRef(registry, namespace, vf.secretKeyRef, true)
              : undefined;
      if (v !== undefined) env[e.name] = v;
    } else env[e.name] = '';
  }
  const port = firstContainerPort(container);
  env.HOST = podIp;
  if (port !== undefined) env.PORT = String(port);
  env.POD_NAME = pod.metadata.name ?? '';
  return env;
}
