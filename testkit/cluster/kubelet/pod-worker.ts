// One pod on the simulated node, from start to removal: its container processes, probes, restarts
// with back-off, the termination sequence (preStop, SIGTERM, grace, SIGKILL, terminal phase, removal)
// and the pod status a real kubelet would report at each step (Kubernetes docs, pod lifecycle, "Termination of Pods").

import http from 'node:http';
import { createHash } from 'node:crypto';
import { ApiError } from '../api/errors.ts';
import { clone, getPath, humanDuration, isObject, timestamp } from '../api/objects.ts';
import type { JsonObject } from '../api/objects.ts';
import type { Registry } from '../api/registry.ts';
import { T } from '../api/resources.ts';
import type { EventRecorder } from '../controllers/events.ts';
import type { ContainerStatus, Pod, PodCondition, PodStatus } from '../controllers/pod-util.ts';
import { ContainerProcess } from './container.ts';
import type { ExitInfo, LogBuffer } from './container.ts';
import { containerEnv } from './env.ts';
import type { IpAllocator } from './ip.ts';
import { Prober, resolvePort, runProbe } from './probe.ts';

export interface KubeletContext {
  registry: Registry;
  events: EventRecorder;
  ips: IpAllocator;
  nodeName: string;
  hostIp: string;
  /** Overrides every probe's periodSeconds (tests run probes every few ms). */
  probePeriodMs: number | undefined;
  /** First crash-loop back-off; doubles per restart up to 5 minutes, as the kubelet's does. */
  crashBackoffMs: number;
  onError: (err: unknown) => void;
}

const COMPONENT = 'kubelet';
const MAX_BACKOFF_MS = 300_000;

interface Terminated {
  exitCode: number;
  reason: string;
  signal?: number;
  startedAt: string;
  finishedAt: string;
  containerID: string;
}

interface Container {
  spec: JsonObject;
  name: string;
  image: string;
  proc: ContainerProcess | undefined;
  previousLogs: LogBuffer | undefined;
  waiting: { reason: string; message?: string } | undefined;
  terminated: Terminated | undefined;
  lastTerminated: Terminated | undefined;
  restartCount: number;
  ready: boolean;
  probers: Prober[];
  restartTimer: NodeJS.Timeout | undefined;
}

/** Seconds a preStop hook sleeps: `sleep.seconds`, or an exec of `sleep N` (directly or through a shell). */
function preStopSleepSeconds(hook: unknown): number | undefined {
  if (!isObject(hook)) return undefined;
  const s = getPath(hook, ['sleep', 'seconds']);
  if (typeof s === 'number') return s;
  const cmd = getPath(hook, ['exec', 'command']);
  if (Array.isArray(cmd)) {
    const m = /(?:^|\s|\/)sleep\s+(\d+(?:\.\d+)?)/.exec(cmd.map(String).join(' '));
    if (m) return Number(m[1]);
  }
  return undefined;
}

export class PodWorker {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly #ctx: KubeletContext;
  readonly #pod: Pod;
  readonly containers: Container[];
  #ip = '';
  #startTime = '';
  #terminating = false;
  #deadline = 0;
  #done = false;
  readonly #wakers = new Set<() => void>();
  readonly finished: Promise<void>;
  #finish!: () => void;

  constructor(ctx: KubeletContext, pod: Pod) {
    this.#ctx = ctx;
    this.#pod = clone(pod);
    this.uid = pod.metadata.uid ?? '';
    this.namespace = pod.metadata.namespace ?? '';
    this.name = pod.metadata.name ?? '';
    this.containers = (pod.spec.containers ?? []).map((spec) => ({
      spec,
      name: String(spec.name),
      image: String(spec.image),
      proc: undefined,
      previousLogs: undefined,
      waiting: { reason: 'ContainerCreating' },
      terminated: undefined,
      lastTerminated: undefined,
      restartCount: 0,
      ready: false,
      probers: [],
      restartTimer: undefined,
    }));
    this.finished = new Promise((r) => {
      this.#finish = r;
    });
  }

  get ip(): string {
    return this.#ip;
  }

  start(): void {
    this.#ip = this.#ctx.ips.allocate();
    this.#startTime = timestamp();
    this.#writeStatus();
    for (const c of this.containers) this.#startContainer(c, true);
    this.#writeStatus();
  }

  #startContainer(c: Container, first: boolean): void {
    if (this.#terminating || this.#done) return;
    if (!first) c.restartCount++;
    const image = c.image;
    this.#event('Normal', 'Pulled', `Container image "${image}" already present on machine`, c);
    c.previousLogs = c.proc?.logs ?? c.previousLogs;
    const proc = new ContainerProcess(containerEnv(this.#ctx.registry, this.#pod, c.spec, this.#ip));
    c.proc = proc;
    c.waiting = undefined;
    c.terminated = undefined;
    this.#event('Normal', 'Created', `Created container: ${c.name}`, c);
    this.#event('Normal', 'Started', `Started container ${c.name}`, c);
    const readiness = isObject(c.spec.readinessProbe) ? c.spec.readinessProbe : undefined;
    c.ready = readiness === undefined;
    c.probers = [];
    if (readiness) c.probers.push(this.#prober(c, readiness, 'Readiness', (ok) => this.#setReady(c, ok)));
    const liveness = isObject(c.spec.livenessProbe) ? c.spec.livenessProbe : undefined;
    if (liveness) {
      c.probers.push(
        this.#prober(c, liveness, 'Liveness', (ok) => {
          if (ok || this.#terminating || !proc.running) return;
          this.#event('Normal', 'Killing', `Container ${c.name} failed liveness probe, will be restarted`, c);
          void this.#stopProcess(proc, Date.now() + this.#graceSeconds() * 1000);
        }),
      );
    }
    for (const p of c.probers) p.start(p === c.probers[0] && readiness ? false : true);
    void proc.exited.then((exit) => this.#onExit(c, proc, exit));
  }

  #prober(c: Container, probe: JsonObject, kind: string, onChange: (ok: boolean) => void): Prober {
    const periodMs = this.#ctx.probePeriodMs ?? Number(probe.periodSeconds ?? 10) * 1000;
    return new Prober(
      probe,
      periodMs,
      () => runProbe(probe, this.#ip, c.spec),
      onChange,
      (message) => this.#event('Warning', 'Unhealthy', `${kind} probe failed: ${message}`, c),
    );
  }

  #setReady(c: Container, ready: boolean): void {
    if (c.ready === ready || !c.proc?.running) return;
    c.ready = ready;
    this.#writeStatus();
  }

  #graceSeconds(): number {
    const g = this.#pod.spec.terminationGracePeriodSeconds;
    return typeof g === 'number' ? g : 30;
  }

  #onExit(c: Container, proc: ContainerProcess, exit: ExitInfo): void {
    if (c.proc !== proc) return;
    for (const p of c.probers) p.stop();
    c.ready = false;
    c.terminated = {
      exitCode: exit.exitCode,
      reason: exit.exitCode === 0 ? 'Completed' : 'Error',
      ...(exit.signal ? { signal: exit.exitCode - 128 } : {}),
      startedAt: timestamp(proc.startedAt),
      finishedAt: timestamp(exit.at),
      containerID: proc.id,
    };
    if (this.#terminating || this.#done) {
      this.#wakeAll();
      return;
    }
    const policy = String(this.#pod.spec.restartPolicy ?? 'Always');
    if (policy === 'Always' || (policy === 'OnFailure' && exit.exitCode !== 0)) {
      const delay = c.restartCount === 0 ? 0 : Math.min(this.#ctx.crashBackoffMs * 2 ** (c.restartCount - 1), MAX_BACKOFF_MS);
      c.lastTerminated = c.terminated;
      c.terminated = undefined;
      if (delay > 0) {
        c.waiting = {
          reason: 'CrashLoopBackOff',
          message: `back-off ${humanDuration(delay)} restarting failed container=${c.name} pod=${this.name}_${this.namespace}(${this.uid})`,
        };
        this.#event(
          'Warning',
          'BackOff',
          `Back-off restarting failed container ${c.name} in pod ${this.name}_${this.namespace}(${this.uid})`,
          c,
        );
      }
      this.#writeStatus();
      c.restartTimer = setTimeout(() => {
        c.restartTimer = undefined;
        this.#startContainer(c, false);
        this.#writeStatus();
      }, delay);
      return;
    }
    this.#writeStatus();
    if (this.containers.every((x) => x.terminated)) this.#ctx.ips.release(this.#ip);
  }

  /** SIGTERM, then SIGKILL at the deadline; resolves when the process is gone. */
  async #stopProcess(proc: ContainerProcess, deadline: number): Promise<void> {
    proc.signal('SIGTERM');
    const timer = setTimeout(() => proc.signal('SIGKILL'), Math.max(0, deadline - Date.now()));
    await proc.exited;
    clearTimeout(timer);
  }

  /** Graceful termination; a second call with a shorter grace period moves the deadline forward. */
  terminate(graceSeconds: number): void {
    const deadline = Date.now() + graceSeconds * 1000;
    if (this.#terminating) {
      if (deadline < this.#deadline) {
        this.#deadline = deadline;
        this.#wakeAll();
      }
      return;
    }
    this.#terminating = true;
    this.#deadline = deadline;
    void this.#runTermination().catch(this.#ctx.onError);
  }

  /** Waits until `done` settles or the (movable) deadline passes. */
  async #waitUntil(deadline: () => number, done: Promise<unknown>): Promise<void> {
    let finished = false;
    void done.then(() => {
      finished = true;
      this.#wakeAll();
    });
    while (!finished && Date.now() < deadline()) {
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(t);
          this.#wakers.delete(wake);
          resolve();
        };
        const t = setTimeout(wake, deadline() - Date.now());
        this.#wakers.add(wake);
      });
    }
  }

  #wakeAll(): void {
    for (const w of [...this.#wakers]) w();
  }

  async #runTermination(): Promise<void> {
    await Promise.all(
      this.containers.map(async (c) => {
        clearTimeout(c.restartTimer);
        const proc = c.proc;
        if (!proc?.running) return;
        this.#event('Normal', 'Killing', `Stopping container ${c.name}`, c);
        const hook = getPath(c.spec, ['lifecycle', 'preStop']);
        const sleepSeconds = preStopSleepSeconds(hook);
        if (sleepSeconds !== undefined) {
          const hookEnd = Date.now() + sleepSeconds * 1000;
          await this.#waitUntil(() => Math.min(this.#deadline, hookEnd), proc.exited);
        } else if (isObject(hook) && isObject(hook.httpGet)) await this.#httpHook(hook.httpGet, c.spec);
        // A preStop hook that used up the grace period earns a one-off 2 s extension, as in the kubelet.
        if (Date.now() >= this.#deadline) this.#deadline = Date.now() + 2000;
        proc.signal('SIGTERM');
        await this.#waitUntil(() => this.#deadline, proc.exited);
        proc.signal('SIGKILL');
        await proc.exited;
      }),
    );
    this.#done = true;
    for (const c of this.containers) for (const p of c.probers) p.stop();
    this.#writeStatus();
    // The terminal status and the final deletion are two API calls in the kubelet's status manager;
    // the gap lets watchers (the EndpointSlice controller first) see the terminal phase, as in a cluster.
    await new Promise((r) => setTimeout(r, 25));
    try {
      this.#ctx.registry.delete(T.pods, this.namespace, this.name, { gracePeriodSeconds: 0, preconditions: { uid: this.uid } });
    } catch (err) {
      if (!(err instanceof ApiError) || (err.code !== 404 && err.code !== 409)) throw err;
    }
    this.#ctx.ips.release(this.#ip);
    this.#finish();
  }

  #httpHook(get: JsonObject, container: JsonObject): Promise<void> {
    const port = resolvePort(get.port, container);
    return new Promise((resolve) => {
      const req = http.get(
        { host: this.#ip, port, path: String(get.path ?? '/'), agent: false, timeout: Math.max(0, this.#deadline - Date.now()) },
        (res) => {
          res.resume();
          res.on('end', () => resolve());
        },
      );
      req.on('error', () => resolve());
      req.on('timeout', () => {
        req.destroy();
        resolve();
      });
    });
  }

  /** The pod object went away (force deletion or cluster stop): kill everything now. */
  async kill(): Promise<void> {
    this.#terminating = true;
    this.#done = true;
    for (const c of this.containers) {
      clearTimeout(c.restartTimer);
      for (const p of c.probers) p.stop();
      c.proc?.signal('SIGKILL');
    }
    await Promise.all(this.containers.map((c) => c.proc?.exited));
    this.#ctx.ips.release(this.#ip);
    this.#finish();
  }

  #event(type: 'Normal' | 'Warning', reason: string, message: string, c: Container): void {
    this.#ctx.events.record(
      COMPONENT,
      this.#ctx.nodeName,
      this.#current() ?? this.#pod,
      type,
      reason,
      message,
      `spec.containers{${c.name}}`,
    );
  }

  #current(): Pod | undefined {
    const p = this.#ctx.registry.store.get(T.pods, this.namespace, this.name) as Pod | undefined;
    return p && p.metadata.uid === this.uid ? p : undefined;
  }

  #containerStatus(c: Container): ContainerStatus {
    const state: Record<string, unknown> = c.terminated
      ? { terminated: c.terminated }
      : c.proc && !c.waiting
        ? { running: { startedAt: timestamp(c.proc.startedAt) } }
        : { waiting: c.waiting ?? { reason: 'ContainerCreating' } };
    return {
      name: c.name,
      state,
      lastState: c.lastTerminated ? { terminated: c.lastTerminated } : {},
      ready: c.ready && !!c.proc?.running,
      restartCount: c.restartCount,
      image: c.image,
      imageID: `${c.image.split(':')[0]}@sha256:${createHash('sha256').update(c.image).digest('hex')}`,
      ...(c.proc ? { containerID: c.proc.id } : {}),
      started: !!c.proc?.running && !c.waiting,
    };
  }

  #phase(): string {
    if (this.containers.every((c) => c.terminated))
      return this.containers.every((c) => c.terminated?.exitCode === 0) ? 'Succeeded' : 'Failed';
    if (this.containers.some((c) => c.proc || c.lastTerminated)) return 'Running';
    return 'Pending';
  }

  #writeStatus(): void {
    const pod = this.#current();
    if (!pod) return;
    const old = pod.status ?? {};
    const phase = this.#phase();
    const terminal = phase === 'Succeeded' || phase === 'Failed';
    const statuses = this.containers.map((c) => this.#containerStatus(c));
    const unready = statuses.filter((s) => !s.ready).map((s) => s.name);
    const allReady = unready.length === 0;
    const cond = (type: string, ok: boolean, reason?: string, message?: string): PodCondition => {
      const prev = old.conditions?.find((c) => c.type === type);
      const status = ok ? 'True' : 'False';
      return {
        type,
        status,
        lastProbeTime: null,
        lastTransitionTime: prev && prev.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : timestamp(),
        ...(reason ? { reason } : {}),
        ...(message ? { message } : {}),
      };
    };
    const notReadyReason = terminal ? 'PodCompleted' : 'ContainersNotReady';
    const notReadyMessage = terminal ? undefined : `containers with unready status: [${unready.join(' ')}]`;
    const scheduled = old.conditions?.find((c) => c.type === 'PodScheduled');
    const status: PodStatus = {
      phase,
      conditions: [
        cond('PodReadyToStartContainers', !terminal),
        cond('Initialized', true),
        cond(
          'Ready',
          allReady && !terminal,
          allReady && !terminal ? undefined : notReadyReason,
          allReady && !terminal ? undefined : notReadyMessage,
        ),
        cond(
          'ContainersReady',
          allReady && !terminal,
          allReady && !terminal ? undefined : notReadyReason,
          allReady && !terminal ? undefined : notReadyMessage,
        ),
        ...(scheduled ? [scheduled] : []),
      ],
      hostIP: this.#ctx.hostIp,
      hostIPs: [{ ip: this.#ctx.hostIp }],
      podIP: this.#ip,
      podIPs: [{ ip: this.#ip }],
      startTime: this.#startTime,
      containerStatuses: statuses,
      qosClass: old.qosClass ?? 'BestEffort',
    };
    try {
      this.#ctx.registry.update(
        T.pods,
        this.namespace,
        this.name,
        { ...pod, metadata: { ...pod.metadata, resourceVersion: undefined }, status },
        'status',
      );
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== 404) throw err;
    }
  }

  logs(container: string | undefined, previous: boolean): LogBuffer | undefined {
    const c = this.#container(container);
    return previous ? c.previousLogs : c.proc?.logs;
  }

  #container(name: string | undefined): Container {
    if (name === undefined) {
      if (this.containers.length === 1) return this.containers[0] as Container;
      throw new ApiError(
        400,
        'BadRequest',
        `a container name must be specified for pod ${this.name}, choose one of: [${this.containers.map((c) => c.name).join(' ')}]`,
      );
    }
    const c = this.containers.find((x) => x.name === name);
    if (!c) throw new ApiError(400, 'BadRequest', `container ${name} is not valid for pod ${this.name}`);
    return c;
  }
}
