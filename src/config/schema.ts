// The one configuration schema: it gives the TypeScript types, the defaults, the validation,
// the environment-variable names, the README reference and the Helm values schema.

import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { DURATION_PATTERN } from '../core/duration.ts';

/** Marks a schema node as a duration: a string such as "10s" or a whole number of milliseconds. */
export const DURATION_FORMAT = 'duration';

function duration(defaultValue: string, description: string) {
  return Type.Union([Type.String({ pattern: DURATION_PATTERN }), Type.Integer({ minimum: 0 })], {
    default: defaultValue,
    description,
    [DURATION_FORMAT]: true,
  });
}

function oneOf<const T extends readonly string[]>(values: T, defaultValue: T[number], description: string) {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    { default: defaultValue, description, enum: values },
  );
}

function section<T extends Record<string, TSchema>>(properties: T, description: string) {
  return Type.Object(properties, { additionalProperties: false, default: {}, description });
}

/** Marks the schema of one rollout step; the loader reports a bad step field by field instead of "Expected union value". */
export const ROLLOUT_STEP_FORMAT = 'rolloutStep';

const RolloutStep = Type.Union(
  [
    Type.Object({ setWeight: Type.Integer({ minimum: 0, maximum: 100 }) }, { additionalProperties: false }),
    Type.Object(
      {
        pause: Type.Object(
          {
            duration: Type.Optional(
              Type.Union([Type.String({ pattern: DURATION_PATTERN }), Type.Integer({ minimum: 0 })], { [DURATION_FORMAT]: true }),
            ),
          },
          { additionalProperties: false },
        ),
      },
      { additionalProperties: false },
    ),
  ],
  { [ROLLOUT_STEP_FORMAT]: true, title: 'step' },
);

const HOST_PORT_PATTERN = '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s\\[\\]]*):\\d{1,5}$';

export const ConfigSchema = Type.Object(
  {
    listen: Type.String({
      pattern: HOST_PORT_PATTERN,
      default: '0.0.0.0:8080',
      description: 'Address of the proxy listener, "host:port".',
    }),
    admin: section(
      {
        listen: Type.String({
          pattern: HOST_PORT_PATTERN,
          default: '127.0.0.1:9901',
          description: 'Address of the admin listener (/livez, /readyz, /metrics, /status). Never the proxy port.',
        }),
        token: Type.String({
          default: '',
          description:
            'Bearer token required by mutating admin verbs (POST). Empty: mutating verbs are refused. Prefer the environment variable.',
        }),
      },
      'The admin listener.',
    ),
    endpoints: section(
      {
        file: Type.String({
          default: '',
          description: 'Static endpoints file (YAML or JSON), watched for changes. The cluster-free discovery source.',
        }),
      },
      'Where endpoints come from.',
    ),
    kubernetes: section(
      {
        kubeconfig: Type.String({
          default: '',
          description:
            'kubeconfig file to reach the Kubernetes API. Empty: the in-cluster service-account credentials (KUBERNETES_SERVICE_HOST and /var/run/secrets/kubernetes.io/serviceaccount).',
        }),
        namespace: Type.String({
          pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$',
          maxLength: 63,
          default: '',
          description: "Namespace of the Service and Deployment. Empty: the kubeconfig context's namespace, or in a pod its own namespace.",
        }),
        service: Type.String({
          pattern: '^([a-z]([-a-z0-9]*[a-z0-9])?)?$',
          maxLength: 63,
          default: '',
          description:
            'Service whose EndpointSlices and pods glidepath routes to. Setting it turns Kubernetes discovery on (instead of endpoints.file).',
        }),
        deployment: Type.String({
          pattern: '^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$',
          maxLength: 253,
          default: '',
          description: 'Deployment behind the Service, watched with its ReplicaSets for rollouts. Empty: glidepath only routes and drains.',
        }),
        port: Type.String({
          pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$',
          maxLength: 63,
          default: '',
          description:
            'Service port to route to, by name ("http") or number ("80", or the target port "8080"); a string, so quote numbers in YAML. Empty: the Service\'s first port.',
        }),
        requestTimeout: duration(
          '10s',
          'A list request to the API that takes longer is abandoned and retried with back-off (watches have their own 30 s inactivity timeout).',
        ),
      },
      "Discovery from Kubernetes: the Service's EndpointSlices and pods, and the Deployment with its ReplicaSets.",
    ),
    log: section(
      {
        level: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info', 'Log level.'),
        accessLogSampleRate: Type.Number({
          minimum: 0,
          maximum: 1,
          default: 0,
          description: 'Share of requests (0..1) written as an access log line at info level. 0 writes none.',
        }),
      },
      'Logging (JSON lines on stdout).',
    ),
    server: section(
      {
        headersTimeout: duration('10s', 'Time allowed for a client to send the request headers; then 408 and close.'),
        requestTimeout: duration('5m', 'Time allowed for a client to send the whole request (headers and body); 0 disables.'),
        keepAliveTimeout: duration(
          '75s',
          'Idle time before a client keep-alive connection is closed; above common load-balancer idle timeouts (60 s).',
        ),
        maxHeaderCount: Type.Integer({
          minimum: 1,
          maximum: 1000,
          default: 100,
          description: 'Most header fields a request may carry; more is answered 431.',
        }),
        maxHeaderBytes: Type.Integer({
          minimum: 1024,
          maximum: 1048576,
          default: 16384,
          description: 'Most bytes of request line plus headers; more is answered 431.',
        }),
        maxUrlBytes: Type.Integer({
          minimum: 64,
          maximum: 1048576,
          default: 8192,
          description: 'Longest request target; longer is answered 414.',
        }),
        maxInFlight: Type.Integer({
          minimum: 0,
          default: 10000,
          description: 'Most requests in flight in this process; beyond it 503 with Retry-After at once. 0 disables the limit.',
        }),
        trustedProxies: Type.Array(Type.String({ minLength: 1 }), {
          default: [],
          description:
            'Peers (IPs or CIDRs) whose X-Forwarded-For / -Proto / -Host are kept and appended to; from anyone else they are replaced.',
        }),
      },
      'The client-facing (downstream) side.',
    ),
    upstream: section(
      {
        connectTimeout: duration('3s', 'Time allowed to connect to a pod.'),
        responseTimeout: duration('60s', 'Time allowed for a pod to send the response headers; then 504.'),
        bodyIdleTimeout: duration('60s', 'Longest pause between two chunks of a response body; then the client response is aborted.'),
        idleTimeout: duration(
          '2s',
          "An idle upstream keep-alive socket is closed after this long (or sooner, per the pod's Keep-Alive hint minus 1 s). Below Node's 5 s default so glidepath closes first.",
        ),
        maxConnectionsPerEndpoint: Type.Integer({ minimum: 0, default: 256, description: 'Most connections to one pod; 0 is unlimited.' }),
        maxPendingPerEndpoint: Type.Integer({
          minimum: 0,
          default: 1024,
          description:
            'Most requests waiting for a connection to one pod; beyond it (and with no other pod free) 503 with Retry-After at once.',
        }),
        drainTimeout: duration(
          '30s',
          'A pod that leaves (terminating, not ready, removed, or its version at weight 0) finishes its in-flight requests up to this long; then they are cut.',
        ),
        slowStartWindow: duration(
          '10s',
          'A newly ready pod ramps its share of its version linearly over this window; 0 turns slow start off.',
        ),
      },
      'The pod-facing (upstream) side.',
    ),
    retry: section(
      {
        maxRetries: Type.Integer({
          minimum: 0,
          maximum: 5,
          default: 2,
          description: 'Most replays of one request on other pods; 0 turns retries off.',
        }),
        statuses: Type.Array(Type.Integer({ minimum: 500, maximum: 599 }), {
          default: [502, 503, 504],
          description: 'Pod statuses that make an idempotent (or replay-marked) request replay elsewhere.',
        }),
        canaryStatuses: Type.Array(Type.Integer({ minimum: 500, maximum: 599 }), {
          default: Array.from({ length: 100 }, (_, i) => 500 + i),
          description:
            'During a rollout (more than one version takes traffic), newest-version statuses that make an idempotent (or replay-marked) request replay on the stable version; the failed attempt still counts against the new version. Default: every 5xx.',
        }),
        perTryTimeout: duration(
          '0s',
          'An idempotent request with no response header after this long is replayed elsewhere; 0 leaves only upstream.responseTimeout.',
        ),
        replayBufferBytes: Type.Integer({
          minimum: 0,
          maximum: 16777216,
          default: 65536,
          description:
            'Request bodies up to this size are kept so that they can be replayed; larger ones stream and are replayed only if the pod never saw them.',
        }),
        replayBufferTotalBytes: Type.Integer({
          minimum: 0,
          default: 67108864,
          description: 'Ceiling on the replay buffers of all requests in flight; past it bodies stream unbuffered.',
        }),
        replayHeader: Type.String({
          default: 'x-glidepath-replayable',
          description: 'A request carrying this header with value "true" may be replayed like an idempotent one.',
        }),
        budgetRatio: Type.Number({
          minimum: 0,
          maximum: 10,
          default: 0.2,
          description: 'Retries may add at most this share of the requests of the last 10 s, plus budgetMinPerSecond.',
        }),
        budgetMinPerSecond: Type.Number({
          minimum: 0,
          default: 10,
          description:
            'Retries per second allowed on top of budgetRatio, so low traffic can still retry; the budget keeps retries from multiplying an outage.',
        }),
      },
      'Safe replays on another pod, failover from the canary to the stable version, and the retry budget.',
    ),
    outlier: section(
      {
        consecutiveFailures: Type.Integer({
          minimum: 0,
          default: 5,
          description: 'Eject a pod after this many consecutive connect failures, resets, timeouts or 5xx responses; 0 turns ejection off.',
        }),
        baseEjectionTime: duration('10s', 'First ejection lasts this long; each repeat adds as much again.'),
        maxEjectionTime: duration('5m', 'Longest ejection.'),
        maxEjectionPercent: Type.Integer({
          minimum: 0,
          maximum: 100,
          default: 50,
          description:
            'Most of a version ejected at once (at least one pod), unless nothing healthy is left in it; if every ready pod ends up ejected they take traffic anyway (panic mode).',
        }),
      },
      'Passive outlier ejection.',
    ),
    shutdown: section(
      {
        drainDelay: duration(
          '5s',
          'After SIGTERM, /readyz answers 503 while glidepath keeps accepting and serving this long (with Connection: close), so whatever routes to it notices.',
        ),
        gracePeriod: duration(
          '20s',
          'Then, with the listener closed, in-flight requests get this long to finish. Keep drainDelay + gracePeriod below terminationGracePeriodSeconds.',
        ),
      },
      'Graceful shutdown of glidepath itself.',
    ),
    websocket: section(
      {
        idleTimeout: duration('5m', 'A WebSocket tunnel with no traffic either way for this long is closed.'),
      },
      'WebSocket (Upgrade) tunnels.',
    ),
    rollout: section(
      {
        mode: oneOf(
          ['gated', 'observe'] as const,
          'gated',
          'gated: glidepath pauses the Deployment (spec.paused) while a step is judged and resumes it to let Kubernetes bring the next batch of pods; observe: it never writes the Deployment except for the abort action (no patch rights needed).',
        ),
        steps: Type.Array(RolloutStep, {
          default: [{ setWeight: 5 }, { setWeight: 25 }, { setWeight: 50 }, { setWeight: 100 }],
          description:
            'The canary schedule (as Argo Rollouts writes it): {setWeight: N} (percent of requests, never decreasing) advances on evidence; {pause: {duration: 30s}} holds that long; {pause: {}} holds until `glidepath resume` or `promote`. The rollout ends at 100 % whatever the last step. From the environment: a YAML/JSON list.',
        }),
        advance: oneOf(
          ['evidence', 'proven'] as const,
          'evidence',
          "evidence: a step advances once the canary served rollout.minStepRequests requests with no sign of harm and the budget can afford the next step's worst case; proven: only once the canary is shown not worse (non-inferiority at rollout.alphaAdvance), which at a 0.1 % bound takes thousands of canary requests.",
        ),
        minStepDuration: duration('5s', 'Shortest time a step is judged before it may advance.'),
        minStepRequests: Type.Integer({
          minimum: 0,
          default: 100,
          description: 'Canary requests a step needs before it may advance (advance: evidence).',
        }),
        maxStepDuration: duration('5m', 'A step with no verdict after this long is inconclusive: see rollout.onInconclusive.'),
        onInconclusive: oneOf(
          ['pause', 'advance'] as const,
          'pause',
          'pause: hold the step and report how many more canary requests a verdict needs (resume or promote to go on); advance: go to the next step anyway, if the budget can afford it.',
        ),
        abortAction: oneOf(
          ['rollback', 'pause', 'none'] as const,
          'rollback',
          "What an abort does in Kubernetes after the canary's weight went to 0: rollback (the stable ReplicaSet's template put back, as `kubectl rollout undo`), pause (the Deployment paused where it is), none.",
        ),
        alpha: Type.Number({
          exclusiveMinimum: 0,
          maximum: 0.5,
          default: 0.01,
          description: 'Chance of aborting a canary that is not worse than stable, over the whole rollout however often it is checked.',
        }),
        alphaAdvance: Type.Number({
          exclusiveMinimum: 0,
          maximum: 0.5,
          default: 0.05,
          description: 'Chance per step of advancing (advance: proven) a canary that is worse than the bounds.',
        }),
        budget: Type.Number({
          minimum: 0,
          maximum: 1,
          default: 0.001,
          description:
            "Share of all client requests since the rollout began that may fail because of the canary (beyond stable's own rate); a projected breach blocks a step, a breach aborts.",
        }),
        unhealthyPodRestarts: Type.Integer({
          minimum: 1,
          default: 3,
          description: 'A canary pod whose containers restarted this many times (a crash loop) aborts the rollout.',
        }),
      },
      'Rollouts of the Deployment (with --deployment): steps, advance and abort.',
    ),
  },
  { additionalProperties: false },
);

type Raw = Static<typeof ConfigSchema>;

/** Durations arrive as `string | number` and leave resolution as milliseconds. */
type Resolved<T> = [T] extends [string]
  ? T
  : [T] extends [number]
    ? T
    : [T] extends [string | number]
      ? number
      : T extends readonly (infer U)[]
        ? readonly Resolved<U>[]
        : T extends object
          ? { readonly [K in keyof T]: Resolved<T[K]> }
          : T;

/** The validated, resolved, frozen configuration: durations are milliseconds. */
export type Config = Resolved<Raw>;
