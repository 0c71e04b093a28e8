// Decoding of `application/vnd.kubernetes.protobuf` request bodies. kubectl's typed clients (create
// deployment/service/secret…, expose) and Helm's release storage send protobuf with no JSON fallback,
// so the simulator decodes the built-in kinds those send, from field tables of k8s.io/api's protos.

import { badRequest } from './errors.ts';
import { readFields } from './protowire.ts';
import type { WireField } from './protowire.ts';

type Scalar = 'string' | 'bytes' | 'int' | 'int*' | 'bool' | 'bool*' | 'time' | 'microtime' | 'quantity' | 'intstr';

interface FieldDef {
  name: string;
  kind: Scalar | Msg | { map: Scalar | Msg };
  repeated?: boolean;
  /** Embedded Go struct whose fields JSON flattens into the parent (ProbeHandler, LocalObjectReference). */
  inline?: boolean;
}

type Msg = { readonly [field: number]: FieldDef };

const f = (name: string, kind: FieldDef['kind'], extra: Partial<FieldDef> = {}): FieldDef => ({ name, kind, ...extra });
const rep = (name: string, kind: FieldDef['kind']): FieldDef => ({ name, kind, repeated: true });

// ---- meta/v1 ----------------------------------------------------------------
const OwnerReference: Msg = {
  1: f('kind', 'string'),
  3: f('name', 'string'),
  4: f('uid', 'string'),
  5: f('apiVersion', 'string'),
  6: f('controller', 'bool*'),
  7: f('blockOwnerDeletion', 'bool*'),
};
const ObjectMeta: Msg = {
  1: f('name', 'string'),
  2: f('generateName', 'string'),
  3: f('namespace', 'string'),
  5: f('uid', 'string'),
  6: f('resourceVersion', 'string'),
  7: f('generation', 'int'),
  8: f('creationTimestamp', 'time'),
  9: f('deletionTimestamp', 'time'),
  10: f('deletionGracePeriodSeconds', 'int*'),
  11: f('labels', { map: 'string' }),
  12: f('annotations', { map: 'string' }),
  13: rep('ownerReferences', OwnerReference),
  14: rep('finalizers', 'string'),
};
const LabelSelectorRequirement: Msg = { 1: f('key', 'string'), 2: f('operator', 'string'), 3: rep('values', 'string') };
const LabelSelector: Msg = { 1: f('matchLabels', { map: 'string' }), 2: rep('matchExpressions', LabelSelectorRequirement) };
const Preconditions: Msg = { 1: f('uid', 'string'), 2: f('resourceVersion', 'string') };
const DeleteOptions: Msg = {
  1: f('gracePeriodSeconds', 'int*'),
  2: f('preconditions', Preconditions),
  3: f('orphanDependents', 'bool*'),
  4: f('propagationPolicy', 'string'),
  5: rep('dryRun', 'string'),
};

// ---- core/v1 ----------------------------------------------------------------
const LocalObjectReference: Msg = { 1: f('name', 'string') };
const KeySelector: Msg = {
  1: f('localObjectReference', LocalObjectReference, { inline: true }),
  2: f('key', 'string'),
  3: f('optional', 'bool*'),
};
const EnvVarSource: Msg = {
  1: f('fieldRef', { 1: f('apiVersion', 'string'), 2: f('fieldPath', 'string') }),
  2: f('resourceFieldRef', { 1: f('containerName', 'string'), 2: f('resource', 'string'), 3: f('divisor', 'quantity') }),
  3: f('configMapKeyRef', KeySelector),
  4: f('secretKeyRef', KeySelector),
};
const EnvVar: Msg = { 1: f('name', 'string'), 2: f('value', 'string'), 3: f('valueFrom', EnvVarSource) };
const EnvSource: Msg = { 1: f('localObjectReference', LocalObjectReference, { inline: true }), 2: f('optional', 'bool*') };
const EnvFromSource: Msg = { 1: f('prefix', 'string'), 2: f('configMapRef', EnvSource), 3: f('secretRef', EnvSource) };
const ContainerPort: Msg = {
  1: f('name', 'string'),
  2: f('hostPort', 'int'),
  3: f('containerPort', 'int'),
  4: f('protocol', 'string'),
  5: f('hostIP', 'string'),
};
const ResourceRequirements: Msg = { 1: f('limits', { map: 'quantity' }), 2: f('requests', { map: 'quantity' }) };
const HTTPGetAction: Msg = {
  1: f('path', 'string'),
  2: f('port', 'intstr'),
  3: f('host', 'string'),
  4: f('scheme', 'string'),
  5: rep('httpHeaders', { 1: f('name', 'string'), 2: f('value', 'string') }),
};
const ExecAction: Msg = { 1: rep('command', 'string') };
const TCPSocketAction: Msg = { 1: f('port', 'intstr'), 2: f('host', 'string') };
const ProbeHandler: Msg = { 1: f('exec', ExecAction), 2: f('httpGet', HTTPGetAction), 3: f('tcpSocket', TCPSocketAction) };
const Probe: Msg = {
  1: f('handler', ProbeHandler, { inline: true }),
  2: f('initialDelaySeconds', 'int'),
  3: f('timeoutSeconds', 'int'),
  4: f('periodSeconds', 'int'),
  5: f('successThreshold', 'int'),
  6: f('failureThreshold', 'int'),
  7: f('terminationGracePeriodSeconds', 'int*'),
};
const LifecycleHandler: Msg = {
  1: f('exec', ExecAction),
  2: f('httpGet', HTTPGetAction),
  3: f('tcpSocket', TCPSocketAction),
  4: f('sleep', { 1: f('seconds', 'int*') }),
};
const VolumeMount: Msg = {
  1: f('name', 'string'),
  2: f('readOnly', 'bool'),
  3: f('mountPath', 'string'),
  4: f('subPath', 'string'),
  5: f('mountPropagation', 'string'),
  6: f('subPathExpr', 'string'),
};
const Container: Msg = {
  1: f('name', 'string'),
  2: f('image', 'string'),
  3: rep('command', 'string'),
  4: rep('args', 'string'),
  5: f('workingDir', 'string'),
  6: rep('ports', ContainerPort),
  7: rep('env', EnvVar),
  8: f('resources', ResourceRequirements),
  9: rep('volumeMounts', VolumeMount),
  10: f('livenessProbe', Probe),
  11: f('readinessProbe', Probe),
  12: f('lifecycle', { 1: f('postStart', LifecycleHandler), 2: f('preStop', LifecycleHandler) }),
  13: f('terminationMessagePath', 'string'),
  14: f('imagePullPolicy', 'string'),
  16: f('stdin', 'bool'),
  17: f('stdinOnce', 'bool'),
  18: f('tty', 'bool'),
  19: rep('envFrom', EnvFromSource),
  20: f('terminationMessagePolicy', 'string'),
  22: f('startupProbe', Probe),
  24: f('restartPolicy', 'string'),
};
const Toleration: Msg = {
  1: f('key', 'string'),
  2: f('operator', 'string'),
  3: f('value', 'string'),
  4: f('effect', 'string'),
  5: f('tolerationSeconds', 'int*'),
};
const PodSpec: Msg = {
  2: rep('containers', Container),
  3: f('restartPolicy', 'string'),
  4: f('terminationGracePeriodSeconds', 'int*'),
  5: f('activeDeadlineSeconds', 'int*'),
  6: f('dnsPolicy', 'string'),
  7: f('nodeSelector', { map: 'string' }),
  8: f('serviceAccountName', 'string'),
  9: f('serviceAccount', 'string'),
  10: f('nodeName', 'string'),
  11: f('hostNetwork', 'bool'),
  12: f('hostPID', 'bool'),
  13: f('hostIPC', 'bool'),
  15: rep('imagePullSecrets', LocalObjectReference),
  16: f('hostname', 'string'),
  17: f('subdomain', 'string'),
  19: f('schedulerName', 'string'),
  20: rep('initContainers', Container),
  21: f('automountServiceAccountToken', 'bool*'),
  22: rep('tolerations', Toleration),
  24: f('priorityClassName', 'string'),
  25: f('priority', 'int*'),
  30: f('enableServiceLinks', 'bool*'),
  31: f('preemptionPolicy', 'string'),
};
const PodTemplateSpec: Msg = { 1: f('metadata', ObjectMeta), 2: f('spec', PodSpec) };
const Pod: Msg = { 1: f('metadata', ObjectMeta), 2: f('spec', PodSpec) };
const ServicePort: Msg = {
  1: f('name', 'string'),
  2: f('protocol', 'string'),
  3: f('port', 'int'),
  4: f('targetPort', 'intstr'),
  5: f('nodePort', 'int'),
  6: f('appProtocol', 'string'),
};
const Service: Msg = {
  1: f('metadata', ObjectMeta),
  2: f('spec', {
    1: rep('ports', ServicePort),
    2: f('selector', { map: 'string' }),
    3: f('clusterIP', 'string'),
    4: f('type', 'string'),
    5: rep('externalIPs', 'string'),
    7: f('sessionAffinity', 'string'),
    10: f('externalName', 'string'),
    11: f('externalTrafficPolicy', 'string'),
    13: f('publishNotReadyAddresses', 'bool'),
    17: f('ipFamilyPolicy', 'string'),
    18: rep('clusterIPs', 'string'),
    19: rep('ipFamilies', 'string'),
    22: f('internalTrafficPolicy', 'string'),
  }),
};
const ConfigMap: Msg = {
  1: f('metadata', ObjectMeta),
  2: f('data', { map: 'string' }),
  3: f('binaryData', { map: 'bytes' }),
  4: f('immutable', 'bool*'),
};
const Secret: Msg = {
  1: f('metadata', ObjectMeta),
  2: f('data', { map: 'bytes' }),
  3: f('type', 'string'),
  4: f('stringData', { map: 'string' }),
  5: f('immutable', 'bool*'),
};
const Namespace: Msg = { 1: f('metadata', ObjectMeta), 2: f('spec', { 1: rep('finalizers', 'string') }) };
const ServiceAccount: Msg = {
  1: f('metadata', ObjectMeta),
  2: rep('secrets', { 1: f('kind', 'string'), 2: f('namespace', 'string'), 3: f('name', 'string') }),
  3: rep('imagePullSecrets', LocalObjectReference),
  4: f('automountServiceAccountToken', 'bool*'),
};
const ObjectReference: Msg = {
  1: f('kind', 'string'),
  2: f('namespace', 'string'),
  3: f('name', 'string'),
  4: f('uid', 'string'),
  5: f('apiVersion', 'string'),
  6: f('resourceVersion', 'string'),
  7: f('fieldPath', 'string'),
};
const Event: Msg = {
  1: f('metadata', ObjectMeta),
  2: f('involvedObject', ObjectReference),
  3: f('reason', 'string'),
  4: f('message', 'string'),
  5: f('source', { 1: f('component', 'string'), 2: f('host', 'string') }),
  6: f('firstTimestamp', 'time'),
  7: f('lastTimestamp', 'time'),
  8: f('count', 'int'),
  9: f('type', 'string'),
  10: f('eventTime', 'microtime'),
  12: f('action', 'string'),
  14: f('reportingComponent', 'string'),
  15: f('reportingInstance', 'string'),
};

// ---- apps/v1, policy/v1, coordination/v1, rbac/v1 ------------------------------
const Deployment: Msg = {
  1: f('metadata', ObjectMeta),
  2: f('spec', {
    1: f('replicas', 'int*'),
    2: f('selector', LabelSelector),
    3: f('template', PodTemplateSpec),
    4: f('strategy', { 1: f('type', 'string'), 2: f('rollingUpdate', { 1: f('maxUnavailable', 'intstr'), 2: f('maxSurge', 'intstr') }) }),
    5: f('minReadySeconds', 'int'),
    6: f('revisionHistoryLimit', 'int*'),
    7: f('paused', 'bool'),
    9: f('progressDeadlineSeconds', 'int*'),
  }),
};
const ReplicaSet: Msg = {
  1: f('metadata', ObjectMeta),
  2: f('spec', {
    1: f('replicas', 'int*'),
    2: f('selector', LabelSelector),
    3: f('template', PodTemplateSpec),
    4: f('minReadySeconds', 'int'),
  }),
};
const PodDisruptionBudget: Msg = {
  1: f('metadata', ObjectMeta),
  2: f('spec', {
    1: f('minAvailable', 'intstr'),
    2: f('selector', LabelSelector),
    3: f('maxUnavailable', 'intstr'),
    4: f('unhealthyPodEvictionPolicy', 'string'),
  }),
};
const Lease: Msg = {
  1: f('metadata', ObjectMeta),
  2: f('spec', {
    1: f('holderIdentity', 'string'),
    2: f('leaseDurationSeconds', 'int*'),
    3: f('acquireTime', 'microtime'),
    4: f('renewTime', 'microtime'),
    5: f('leaseTransitions', 'int*'),
    6: f('strategy', 'string'),
    7: f('preferredHolder', 'string'),
  }),
};
const PolicyRule: Msg = {
  1: rep('verbs', 'string'),
  2: rep('apiGroups', 'string'),
  3: rep('resources', 'string'),
  4: rep('resourceNames', 'string'),
  5: rep('nonResourceURLs', 'string'),
};
const Role: Msg = { 1: f('metadata', ObjectMeta), 2: rep('rules', PolicyRule) };
const ClusterRole: Msg = { ...Role, 3: f('aggregationRule', { 1: rep('clusterRoleSelectors', LabelSelector) }) };
const RoleBinding: Msg = {
  1: f('metadata', ObjectMeta),
  2: rep('subjects', { 1: f('kind', 'string'), 2: f('apiGroup', 'string'), 3: f('name', 'string'), 4: f('namespace', 'string') }),
  3: f('roleRef', { 1: f('apiGroup', 'string'), 2: f('kind', 'string'), 3: f('name', 'string') }),
};

const BY_KIND: Record<string, Msg> = {
  Deployment,
  ReplicaSet,
  Pod,
  Service,
  ConfigMap,
  Secret,
  Namespace,
  ServiceAccount,
  Event,
  PodDisruptionBudget,
  Lease,
  Role,
  ClusterRole,
  RoleBinding,
  ClusterRoleBinding: RoleBinding,
  DeleteOptions,
};

/** RFC 3339 from a protobuf Timestamp; the zero time is null, as `metav1.Time` marshals it. */
function timeOf(buf: Buffer, micro: boolean): string | null {
  let seconds = 0;
  let nanos = 0;
  for (const w of readFields(buf)) {
    if (w.field === 1) seconds = Number(w.varint ?? 0n);
    if (w.field === 2) nanos = Number(w.varint ?? 0n);
  }
  if (seconds === 0 && nanos === 0) return null;
  const iso = new Date(seconds * 1000).toISOString();
  return micro ? iso.replace('.000Z', `.${String(Math.floor(nanos / 1000)).padStart(6, '0')}Z`) : iso.replace('.000Z', 'Z');
}

function signed(v: bigint | undefined): number {
  return Number(BigInt.asIntN(64, v ?? 0n));
}

function scalar(kind: Scalar, w: WireField): unknown {
  switch (kind) {
    case 'string':
      return (w.bytes ?? Buffer.alloc(0)).toString('utf8');
    case 'bytes':
      return (w.bytes ?? Buffer.alloc(0)).toString('base64');
    case 'int':
    case 'int*':
      return signed(w.varint);
    case 'bool':
    case 'bool*':
      return w.varint !== 0n;
    case 'time':
      return timeOf(w.bytes ?? Buffer.alloc(0), false);
    case 'microtime':
      return timeOf(w.bytes ?? Buffer.alloc(0), true);
    case 'quantity': {
      const s = readFields(w.bytes ?? Buffer.alloc(0)).find((x) => x.field === 1);
      return s?.bytes?.toString('utf8') ?? '0';
    }
    case 'intstr': {
      let type = 0;
      let intVal = 0;
      let strVal = '';
      for (const x of readFields(w.bytes ?? Buffer.alloc(0))) {
        if (x.field === 1) type = signed(x.varint);
        if (x.field === 2) intVal = signed(x.varint);
        if (x.field === 3) strVal = x.bytes?.toString('utf8') ?? '';
      }
      return type === 1 ? strVal : intVal;
    }
  }
}

/** Go's omitempty for non-pointer scalars: zero values are absent in JSON. */
function isOmittedZero(kind: Scalar, v: unknown): boolean {
  return (
    (kind === 'string' && v === '') ||
    (kind === 'int' && v === 0) ||
    (kind === 'bool' && v === false) ||
    ((kind === 'time' || kind === 'microtime') && v === null)
  );
}

function decodeValue(kind: FieldDef['kind'], w: WireField): unknown {
  if (typeof kind === 'string') return scalar(kind, w);
  return decodeMessage(kind as Msg, w.bytes ?? Buffer.alloc(0));
}

function decodeMessage(schema: Msg, buf: Buffer): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const w of readFields(buf)) {
    const def = schema[w.field];
    if (!def) continue;
    if (typeof def.kind === 'object' && 'map' in def.kind) {
      const entry = readFields(w.bytes ?? Buffer.alloc(0));
      const key = entry.find((x) => x.field === 1)?.bytes?.toString('utf8') ?? '';
      const valueField = entry.find((x) => x.field === 2) ?? { field: 2, wireType: 2, bytes: Buffer.alloc(0) };
      const map = (out[def.name] ??= {}) as Record<string, unknown>;
      map[key] = decodeValue(def.kind.map, valueField);
      continue;
    }
    const value = decodeValue(def.kind as Scalar | Msg, w);
    if (def.repeated) {
      ((out[def.name] ??= []) as unknown[]).push(value);
    } else if (def.inline) {
      Object.assign(out, value);
    } else if (!(typeof def.kind === 'string' && isOmittedZero(def.kind, value))) {
      out[def.name] = value;
    }
  }
  return out;
}

export const PROTOBUF = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Decodes the `k8s\0` envelope (runtime.Unknown) into a JSON object with apiVersion and kind. */
export function decodeProtobuf(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) throw badRequest('protobuf body without the k8s envelope');
  let apiVersion = '';
  let kind = '';
  let raw: Buffer = Buffer.alloc(0);
  for (const w of readFields(body.subarray(4))) {
    if (w.field === 1) {
      for (const t of readFields(w.bytes ?? Buffer.alloc(0))) {
        if (t.field === 1) apiVersion = t.bytes?.toString('utf8') ?? '';
        if (t.field === 2) kind = t.bytes?.toString('utf8') ?? '';
      }
    }
    if (w.field === 2) raw = w.bytes ?? raw;
  }
  const schema = BY_KIND[kind];
  if (!schema) throw badRequest(`the simulated cluster cannot decode protobuf for kind "${kind}" (${apiVersion}); send JSON`);
  return { apiVersion, kind, ...decodeMessage(schema, raw) };
}
