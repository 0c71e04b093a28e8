// What decide() sees of the cluster and of the operator at one tick: the Deployment, its ReplicaSets,
// ready endpoints per version, and the verbs queued by the admin API. Discovery adapts to these types.

/** One ReplicaSet of the Deployment. Its version is its pod-template-hash (the data plane's version name). */
export interface ReplicaSetObservation {
  readonly version: string;
  /** `deployment.kubernetes.io/revision`. */
  readonly revision: number;
  /** spec.replicas: the pods Kubernetes has decided this ReplicaSet should have. */
  readonly desiredReplicas: number;
  /** status.replicas: its pods that exist and are not terminating. */
  readonly replicas: number;
  readonly readyReplicas: number;
  readonly availableReplicas: number;
  /** Highest container restartCount among its pods (a crash loop shows here). */
  readonly maxRestarts: number;
  /** Its pods waiting in CrashLoopBackOff now (for the message). */
  readonly crashLoopingPods: number;
}

export interface DeploymentObservation {
  readonly name: string;
  readonly generation: number;
  readonly observedGeneration: number;
  readonly paused: boolean;
  /** spec.replicas. */
  readonly replicas: number;
  /** The ReplicaSet whose template is the Deployment's (the newest revision), or null before it exists. */
  readonly newest: { readonly version: string; readonly revision: number } | null;
  /**
   * The Deployment's pod template matches no ReplicaSet yet: a paused Deployment creates none, so
   * glidepath must unpause it for Kubernetes to create the new one.
   */
  readonly templateChanged: boolean;
  /** Progressing=False/ProgressDeadlineExceeded: the new ReplicaSet's pods did not become available in time. */
  readonly progressDeadlineExceeded: boolean;
}

export interface Observation {
  /** null: not found (or no --deployment); decide() then governs nothing. */
  readonly deployment: DeploymentObservation | null;
  readonly replicaSets: readonly ReplicaSetObservation[];
  /** Ready, non-terminating endpoints per version, as the data plane routes to them. */
  readonly readyEndpoints: Readonly<Record<string, number>>;
}

export type OperatorVerb = 'promote' | 'abort' | 'pause' | 'resume';

/** A verb queued by the admin API since the last tick, applied in order. */
export interface OperatorCommand {
  readonly verb: OperatorVerb;
  /** Who asked (for the record), e.g. "admin API". */
  readonly by?: string | undefined;
}
