// Server-side defaulting of the simulated API server: the values a real apiserver fills in on
// create and update (kubernetes pkg/apis/apps/v1/defaults.go, pkg/apis/core/v1/defaults.go), so
// objects read back look like a real cluster's.

import { isObject } from './objects.ts';
import type { JsonObject, KObject } from './objects.ts';

function obj(parent: JsonObject, key: string): JsonObject {
  if (!isObject(parent[key])) parent[key] = {};
  return parent[key] as JsonObject;
}

function setDefault(o: JsonObject, key: string, value: unknown): void {
  if (o[key] === undefined || o[key] === null) o[key] = value;
}

function imageTag(image: string): string {
  const withoutDigest = image.split('@')[0] as string;
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  return colon > lastSlash ? withoutDigest.slice(colon + 1) : '';
}

function defaultProbe(probe: unknown): void {
  if (!isObject(probe)) return;
  setDefault(probe, 'timeoutSeconds', 1);
  setDefault(probe, 'periodSeconds', 10);
  setDefault(probe, 'successThreshold', 1);
  setDefault(probe, 'failureThreshold', 3);
  if (isObject(probe.httpGet)) setDefault(probe.httpGet, 'scheme', 'HTTP');
}

function defaultContainer(c: unknown): void {
  if (!isObject(c)) return;
  const image = typeof c.image === 'string' ? c.image : '';
  const tag = imageTag(image);
  setDefault(c, 'imagePullPolicy', tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent');
  setDefault(c, 'terminationMessagePath', '/dev/termination-log');
  setDefault(c, 'terminationMessagePolicy', 'File');
  setDefault(c, 'resources', {});
  if (Array.isArray(c.ports)) for (const p of c.ports) if (isObject(p)) setDefault(p, 'protocol', 'TCP');
  defaultProbe(c.readinessProbe);
  defaultProbe(c.livenessProbe);
  defaultProbe(c.startupProbe);
}

/** `SetDefaults_PodSpec` and the container defaults; `forPod` adds what admission adds to real pods. */
function defaultPodSpec(spec: JsonObject, forPod: boolean): void {
  setDefault(spec, 'restartPolicy', 'Always');
  setDefault(spec, 'terminationGracePeriodSeconds', 30);
  setDefault(spec, 'dnsPolicy', 'ClusterFirst');
  setDefault(spec, 'securityContext', {});
  setDefault(spec, 'schedulerName', 'default-scheduler');
  for (const list of ['containers', 'initContainers']) {
    const cs = spec[list];
    if (Array.isArray(cs)) cs.forEach(defaultContainer);
  }
  if (forPod) {
    setDefault(spec, 'serviceAccountName', 'default');
    setDefault(spec, 'serviceAccount', spec.serviceAccountName);
    setDefault(spec, 'enableServiceLinks', true);
    setDefault(spec, 'priority', 0);
    setDefault(spec, 'preemptionPolicy', 'PreemptLowerPriority');
    setDefault(spec, 'tolerations', [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ]);
  }
}

function defaultTemplate(spec: JsonObject): void {
  const template = obj(spec, 'template');
  const meta = obj(template, 'metadata');
  // metav1.Time has no omitempty: a real apiserver echoes `creationTimestamp: null` in templates.
  if (meta.creationTimestamp === undefined) meta.creationTimestamp = null;
  defaultPodSpec(obj(template, 'spec'), false);
}

export interface DefaultContext {
  /** Hands out a Service cluster IP. */
  allocateClusterIp(): string;
}

export function applyDefaults(o: KObject, ctx: DefaultContext): void {
  const spec = isObject(o.spec) ? o.spec : undefined;
  switch (o.kind) {
    case 'Deployment': {
      const s = obj(o, 'spec');
      setDefault(s, 'replicas', 1);
      const strategy = obj(s, 'strategy');
      setDefault(strategy, 'type', 'RollingUpdate');
      if (strategy.type === 'RollingUpdate') {
        const ru = obj(strategy, 'rollingUpdate');
        setDefault(ru, 'maxUnavailable', '25%');
        setDefault(ru, 'maxSurge', '25%');
      }
      setDefault(s, 'revisionHistoryLimit', 10);
      setDefault(s, 'progressDeadlineSeconds', 600);
      defaultTemplate(s);
      break;
    }
    case 'ReplicaSet': {
      const s = obj(o, 'spec');
      setDefault(s, 'replicas', 1);
      defaultTemplate(s);
      break;
    }
    case 'Pod': {
      defaultPodSpec(obj(o, 'spec'), true);
      const status = obj(o, 'status');
      setDefault(status, 'phase', 'Pending');
      setDefault(status, 'qosClass', 'BestEffort');
      break;
    }
    case 'Service': {
      const s = obj(o, 'spec');
      setDefault(s, 'type', 'ClusterIP');
      setDefault(s, 'sessionAffinity', 'None');
      if (s.clusterIP === undefined || s.clusterIP === '') s.clusterIP = ctx.allocateClusterIp();
      setDefault(s, 'clusterIPs', [s.clusterIP]);
      if (s.clusterIP !== 'None') {
        setDefault(s, 'ipFamilies', ['IPv4']);
        setDefault(s, 'ipFamilyPolicy', 'SingleStack');
      }
      setDefault(s, 'internalTrafficPolicy', 'Cluster');
      if (Array.isArray(s.ports)) {
        for (const p of s.ports) {
          if (!isObject(p)) continue;
          setDefault(p, 'protocol', 'TCP');
          setDefault(p, 'targetPort', p.port);
        }
      }
      setDefault(o, 'status', { loadBalancer: {} });
      break;
    }
    case 'Namespace': {
      setDefault(obj(o, 'spec'), 'finalizers', ['kubernetes']);
      setDefault(obj(o, 'status'), 'phase', 'Active');
      const labels = (o.metadata.labels ??= {});
      labels['kubernetes.io/metadata.name'] = o.metadata.name ?? '';
      break;
    }
    case 'Secret':
      setDefault(o, 'type', 'Opaque');
      break;
    case 'PodDisruptionBudget':
      if (spec) setDefault(obj(o, 'status'), 'disruptionsAllowed', 0);
      break;
  }
}
