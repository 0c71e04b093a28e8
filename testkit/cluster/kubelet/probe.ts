// Container probes as the kubelet runs them: HTTP GET (2xx/3xx is success, fresh connection each
// time) and TCP connect, with the failure messages a real kubelet puts into Unhealthy events.

import http from 'node:http';
import net from 'node:net';
import { isObject } from '../api/objects.ts';
import type { JsonObject } from '../api/objects.ts';

export interface ProbeResult {
  ok: boolean;
  message: string;
}

export function resolvePort(port: unknown, container: JsonObject): number | undefined {
  if (typeof port === 'number') return port;
  if (typeof port === 'string' && /^\d+$/.test(port)) return Number(port);
  const ports = Array.isArray(container.ports) ? container.ports : [];
  const p = ports.find((x) => isObject(x) && x.name === port);
  return isObject(p) && typeof p.containerPort === 'number' ? p.containerPort : undefined;
}

export function runProbe(probe: JsonObject, ip: string, container: JsonObject): Promise<ProbeResult> {
  const timeoutMs = Number(probe.timeoutSeconds ?? 1) * 1000;
  if (isObject(probe.httpGet)) return httpProbe(probe.httpGet, ip, container, timeoutMs);
  if (isObject(probe.tcpSocket)) return tcpProbe(probe.tcpSocket, ip, container, timeoutMs);
  // exec and grpc probes cannot run inside the demo app; they count as passing.
  return Promise.resolve({ ok: true, message: '' });
}

function httpProbe(get: JsonObject, ip: string, container: JsonObject, timeoutMs: number): Promise<ProbeResult> {
  const port = resolvePort(get.port, container);
  const host = typeof get.host === 'string' && get.host ? get.host : ip;
  const path = typeof get.path === 'string' && get.path ? get.path : '/';
  const url = `http://${host}:${String(port)}${path}`;
  const headers: Record<string, string> = { 'User-Agent': 'kube-probe/1.32', Accept: '*/*', Connection: 'close' };
  for (const h of Array.isArray(get.httpHeaders) ? get.httpHeaders : []) if (isObject(h)) headers[String(h.name)] = String(h.value);
  return new Promise((resolve) => {
    if (port === undefined) return resolve({ ok: false, message: `HTTP probe failed: port ${String(get.port)} not found` });
    const req = http.get({ host, port, path, headers, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(
        status >= 200 && status < 400 ? { ok: true, message: '' } : { ok: false, message: `HTTP probe failed with statuscode: ${status}` },
      );
    });
    req.on('timeout', () => {
      req.destroy();
      resolve({ ok: false, message: `Get "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)` });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'ECONNREFUSED'
          ? 'connect: connection refused'
          : err.code === 'ECONNRESET'
            ? 'read: connection reset by peer'
            : err.message;
      resolve({ ok: false, message: `Get "${url}": dial tcp ${host}:${port}: ${why}` });
    });
  });
}

function tcpProbe(spec: JsonObject, ip: string, container: JsonObject, timeoutMs: number): Promise<ProbeResult> {
  const port = resolvePort(spec.port, container);
  return new Promise((resolve) => {
    if (port === undefined) return resolve({ ok: false, message: `TCP probe failed: port ${String(spec.port)} not found` });
    const socket = net.connect({ host: ip, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve({ ok: true, message: '' });
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve({ ok: false, message: `dial tcp ${ip}:${port}: i/o timeout` });
    });
    socket.once('error', () => resolve({ ok: false, message: `dial tcp ${ip}:${port}: connect: connection refused` }));
  });
}

/** Runs one probe on its period and applies success/failure thresholds; `onChange` gets each flip. */
export class Prober {
  readonly #probe: JsonObject;
  readonly #periodMs: number;
  readonly #run: () => Promise<ProbeResult>;
  readonly #onChange: (ok: boolean, message: string) => void;
  readonly #onFailure: (message: string) => void;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #state: boolean | undefined;
  #successes = 0;
  #failures = 0;

  constructor(
    probe: JsonObject,
    periodMs: number,
    run: () => Promise<ProbeResult>,
    onChange: (ok: boolean, message: string) => void,
    onFailure: (message: string) => void,
  ) {
    this.#probe = probe;
    this.#periodMs = periodMs;
    this.#run = run;
    this.#onChange = onChange;
    this.#onFailure = onFailure;
  }

  start(initialState: boolean): void {
    this.#state = initialState;
    this.#schedule(Number(this.#probe.initialDelaySeconds ?? 0) * 1000);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#tick(), ms);
  }

  async #tick(): Promise<void> {
    const result = await this.#run();
    if (this.#stopped) return;
    if (result.ok) {
      this.#failures = 0;
      this.#successes++;
      if (this.#state !== true && this.#successes >= Number(this.#probe.successThreshold ?? 1)) {
        this.#state = true;
        this.#onChange(true, '');
      }
    } else {
      this.#successes = 0;
      this.#failures++;
      this.#onFailure(result.message);
      if (this.#state !== false && this.#failures >= Number(this.#probe.failureThreshold ?? 3)) {
        this.#state = false;
        this.#onChange(false, result.message);
      }
    }
    this.#schedule(this.#periodMs);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}
