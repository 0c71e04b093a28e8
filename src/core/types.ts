// Plain data shared by every plane: endpoints, versions and weights, with no behaviour and no imports.

/** Weights are integers in basis points; the weights of all versions sum to this. */
export const WEIGHT_TOTAL = 10_000;

/**
 * One pod address as discovery sees it. `ready`, `serving` and `terminating` follow the
 * EndpointSlice conditions (KEP-1672): `ready` means "send new traffic", `serving` means
 * "could still answer" (used only as a fallback), `terminating` means "on its way out".
 */
export interface Endpoint {
  /** IP address (or host name) of the pod. */
  readonly host: string;
  readonly port: number;
  /** Name of the version (in Kubernetes the pod-template-hash of its ReplicaSet). */
  readonly version: string;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  /** Pod name or another human label; optional. */
  readonly name?: string | undefined;
}

/** A version of the application: in Kubernetes, one ReplicaSet. */
export interface Version {
  readonly name: string;
  /** Higher is newer (the Deployment revision number). */
  readonly revision: number;
}

/** Weight per version name, in basis points. */
export type WeightTable = Readonly<Record<string, number>>;

/**
 * What a discovery source reports: every known version and every endpoint.
 * Weights are optional: a static file may carry them, Kubernetes discovery never does
 * (there the rollout controller owns them).
 */
export interface DiscoverySnapshot {
  readonly versions: readonly Version[];
  readonly endpoints: readonly Endpoint[];
  readonly weights?: WeightTable | undefined;
}

/** `host:port` key of an endpoint, with IPv6 hosts bracketed. */
export function endpointKey(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
