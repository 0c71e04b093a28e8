// The rollout actions' door to the Kubernetes API: client-node's configuration, authentication and
// transport, with plain JSON bodies in and out, a timeout on every request, and typed errors.
//
// Why not the generated typed API: its deserializer keeps only the fields its model knows, so a pod
// template read through it and written back (a rollback) would silently lose any field newer than
// the client; and merge patches need the exact JSON the server sent. Everything else (kubeconfig
// and in-cluster loading, tokens, exec plugins, client certificates, TLS) is client-node's own.

import * as k8s from '@kubernetes/client-node';
import { GlidepathError } from '../../core/errors.ts';
import { fromStatus, KubernetesError, unreachable } from './errors.ts';
import type { Operation } from './errors.ts';

/** Where the credentials come from: a loaded KubeConfig, a kubeconfig file, or in-cluster. */
export type KubeConfigSource =
  k8s.KubeConfig | { readonly kubeconfig: string; readonly context?: string } | { readonly inCluster: true; readonly pathPrefix?: string };

/** Loads a KubeConfig: a file (with an optional context), or the pod's service account. */
export function loadKubeConfig(source: KubeConfigSource): k8s.KubeConfig {
  if (source instanceof k8s.KubeConfig) return source;
  const kc = new k8s.KubeConfig();
  if ('inCluster' in source) {
    kc.loadFromCluster(source.pathPrefix);
    return kc;
  }
  try {
    kc.loadFromFile(source.kubeconfig);
  } catch (err) {
    throw new GlidepathError(
      'GP_CONFIG_INVALID',
      `kubeconfig ${source.kubeconfig} cannot be read: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  if (source.context) {
    if (!kc.getContextObject(source.context)) {
      throw new GlidepathError(
        'GP_CONFIG_INVALID',
        `kubeconfig ${source.kubeconfig} has no context ${JSON.stringify(source.context)} (it has ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(', ') || 'none'
        })`,
      );
    }
    kc.setCurrentContext(source.context);
  }
  return kc;
}

export const JSON_PATCH = 'application/json-patch+json';
export const MERGE_PATCH = 'application/merge-patch+json';
export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';

export interface RequestOptions {
  readonly query?: Record<string, string>;
  readonly body?: unknown;
  readonly contentType?: string;
}

export interface KubeClientOptions {
  /** Per-request timeout (default 10 s): a hung API server must not hold an action forever. */
  readonly timeoutMs?: number;
  /** `fieldManager` on writes, so `kubectl get -o yaml --show-managed-fields` names glidepath. */
  readonly fieldManager?: string;
}

export class KubeClient {
  readonly kubeConfig: k8s.KubeConfig;
  readonly server: string;
  readonly #timeoutMs: number;
  readonly #fieldManager: string;
  readonly #http = new k8s.IsomorphicFetchHttpLibrary();

  constructor(source: KubeConfigSource, options: KubeClientOptions = {}) {
    this.kubeConfig = loadKubeConfig(source);
    const cluster = this.kubeConfig.getCurrentCluster();
    if (!cluster)
      throw new KubernetesError(
        'GP_KUBERNETES_UNREACHABLE',
        'the kubeconfig has no current cluster: set current-context, or pass --kubeconfig with a context',
        { verb: 'connect', group: '', resource: '', namespace: '' },
        0,
        false,
      );
    this.server = cluster.server.replace(/\/+$/, '');
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#fieldManager = options.fieldManager ?? 'glidepath';
  }

  /** The current context's namespace, if the kubeconfig (or the service account) names one. */
  get defaultNamespace(): string | undefined {
    return this.kubeConfig.getContextObject(this.kubeConfig.getCurrentContext())?.namespace;
  }

  /** One request; resolves with the parsed JSON body of a 2xx answer, rejects with a KubernetesError. */
  async request<T>(
    op: Operation,
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    options: RequestOptions = {},
  ): Promise<T> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
    if (method !== 'GET' && method !== 'DELETE') url.searchParams.set('fieldManager', this.#fieldManager);
    const ctx = new k8s.RequestContext(url.toString(), method as k8s.HttpMethod);
    try {
      await this.kubeConfig.applySecurityAuthentication(ctx);
    } catch (err) {
      // Raised before any byte is sent: an unusable kubeconfig (http without skipTLSVerify, a
      // missing certificate file, a failing exec plugin). Retrying the same call cannot help.
      throw new KubernetesError(
        'GP_KUBERNETES_UNREACHABLE',
        `${op.verb} ${op.resource}: the kubeconfig for ${this.server} cannot be used: ${err instanceof Error ? err.message : String(err)}`,
        op,
        0,
        false,
        { cause: err },
      );
    }
    ctx.setHeaderParam('Accept', 'application/json');
    if (options.body !== undefined) {
      ctx.setHeaderParam('Content-Type', options.contentType ?? 'application/json');
      ctx.setBody(JSON.stringify(options.body));
    }
    ctx.setSignal(AbortSignal.timeout(this.#timeoutMs));
    let status: number;
    let text: string;
    try {
      const res = await this.#http.send(ctx).toPromise();
      status = res.httpStatusCode;
      text = await res.body.text();
    } catch (err) {
      throw unreachable(op, this.server, err);
    }
    if (status < 200 || status > 299) throw fromStatus(op, status, text);
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new KubernetesError(
        'GP_KUBERNETES_SERVER_ERROR',
        `${op.verb} ${op.resource}: the API server at ${this.server} answered ${status} with a body that is not JSON`,
        op,
        status,
        true,
        { cause: err },
      );
    }
  }
}
