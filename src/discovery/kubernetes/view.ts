// The read-only cluster view that Kubernetes discovery hands to the rollout controller: the
// Deployment, its ReplicaSets and their pods' health as plain data (no client-node types).

/** One condition of `status.conditions`, timestamps as ISO strings. */
export interface ConditionView {
  readonly type: string;
  readonly status: string;
  readonly reason: string | undefined;
  readonly message: string | undefined;
  readonly lastUpdateTime: string | undefined;
  readonly lastTransitionTime: string | undefined;
}

/** Health of the pods of one ReplicaSet, as the kubelet reports it. */
export interface PodHealthView {
  /** Pods that exist (terminating ones included). */
  readonly total: number;
  readonly ready: number;
  readonly terminating: number;
  /** Sum of `containerStatuses[].restartCount` over the pods. */
  readonly restarts: number;
  /** Containers waiting, by reason (`CrashLoopBackOff`, `ImagePullBackOff`, `ContainerCreating`, ...). */
  readonly waitingReasons: Readonly<Record<string, number>>;
  /** Containers whose last termination ended in this reason (`Error`, `OOMKilled`, ...). */
  readonly lastTerminationReasons: Readonly<Record<string, number>>;
  readonly pods: readonly PodView[];
}

export interface PodView {
  readonly name: string;
  readonly ip: string | undefined;
  readonly phase: string | undefined;
  readonly ready: boolean;
  readonly terminating: boolean;
  readonly restarts: number;
  /** The first waiting reason among its containers, if any. */
  readonly waitingReason: string | undefined;
}

export interface ReplicaSetView {
  readonly name: string;
  readonly uid: string;
  readonly resourceVersion: string;
  /** The `pod-template-hash` label: the version name the data plane routes by. */
  readonly hash: string;
  /** `deployment.kubernetes.io/revision`; 0 when absent. */
  readonly revision: number;
  readonly createdAt: string | undefined;
  readonly generation: number;
  readonly observedGeneration: number;
  /** `spec.replicas`. */
  readonly replicas: number;
  readonly statusReplicas: number;
  readonly readyReplicas: number;
  readonly availableReplicas: number;
  readonly annotations: Readonly<Record<string, string>>;
  /** `spec.template` as plain JSON, hash label included; `kubectl rollout undo` puts it back without that label. */
  readonly template: unknown;
  readonly podHealth: PodHealthView;
}

export interface DeploymentView {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly resourceVersion: string;
  readonly generation: number;
  readonly observedGeneration: number;
  readonly paused: boolean;
  /** `spec.replicas`. */
  readonly replicas: number;
  readonly statusReplicas: number;
  readonly updatedReplicas: number;
  readonly readyReplicas: number;
  readonly availableReplicas: number;
  readonly unavailableReplicas: number;
  /** `deployment.kubernetes.io/revision`; 0 when absent. */
  readonly revision: number;
  readonly annotations: Readonly<Record<string, string>>;
  /** The label selector as a string (`app=web`). */
  readonly selector: string;
  /** `spec.template` as plain JSON. */
  readonly template: unknown;
  /**
   * The pod-template-hash of the owned ReplicaSet whose template equals the Deployment's
   * (semantically, ignoring the hash label, as the Deployment controller compares them);
   * undefined until the controller has created it.
   */
  readonly templateHash: string | undefined;
  /** Name of that ReplicaSet (the "new" one); undefined until it exists. */
  readonly newReplicaSet: string | undefined;
  readonly strategy: {
    readonly type: string;
    readonly maxSurge: string | number | undefined;
    readonly maxUnavailable: string | number | undefined;
  };
  readonly conditions: readonly ConditionView[];
}

export interface ClusterView {
  readonly namespace: string;
  readonly service: string;
  /** Undefined when no Deployment is configured or it does not exist (see `deploymentMissing`). */
  readonly deployment: DeploymentView | undefined;
  /** True when a Deployment is configured and the API says it does not exist. */
  readonly deploymentMissing: boolean;
  /** ReplicaSets controlled by the Deployment (or, without one, selected by the Service), newest revision first. */
  readonly replicaSets: readonly ReplicaSetView[];
  /** True once every watch has finished its first list. */
  readonly synced: boolean;
}

/** Receives a new view after every change (coalesced like the endpoint snapshots). */
export type ClusterViewListener = (view: ClusterView) => void;
