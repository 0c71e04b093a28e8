// What the rollout controller may do to its Deployment, as an interface with no Kubernetes client
// behind it, so the controller loop depends on this file only (and a no-op version serves static mode).

/** The Kubernetes side of an abort (config `rollout.abortAction`). */
export type AbortActionKind = 'rollback' | 'pause' | 'none';

export type EventType = 'Normal' | 'Warning';

/** How an action went. Failures are thrown as KubernetesError (see errors.ts). */
export interface ActionResult {
  /** False when the cluster already was as asked (the call was a no-op). */
  readonly changed: boolean;
  /** One line for logs and /status: what was done or why nothing was. */
  readonly detail: string;
}

export interface RollbackOptions {
  /**
   * The version judged bad (pod-template-hash or ReplicaSet name). When given, the rollback happens
   * only while the Deployment still carries that template (or the stable one): a template pushed
   * since the decision is a new rollout to judge, never reverted unseen.
   */
  readonly canary?: string;
}

/** Annotation keys of glidepath's records on the Deployment. */
export const STATE_ANNOTATION = 'glidepath.io/rollout-state';
export const ABORT_ANNOTATION = 'glidepath.io/abort';

/**
 * Every method is idempotent (a repeat after success changes nothing) and safe against concurrent
 * edits of the Deployment by others (patches that touch only their fields, or resourceVersion
 * preconditions with bounded re-reads on 409).
 */
export interface DeploymentActions {
  /** `spec.paused`: gated mode holds Kubernetes' rollout between steps. */
  setPaused(paused: boolean): Promise<ActionResult>;
  /**
   * What `kubectl rollout undo` does, to the ReplicaSet named `stable` or whose pod-template-hash
   * is `stable`, and unpauses the Deployment so the controller rolls back to it.
   */
  rollback(stable: string, options?: RollbackOptions): Promise<ActionResult>;
  /** The configured abort action: rollback to `stable`, pause, or nothing. */
  abortAction(kind: AbortActionKind, stable: string, options?: RollbackOptions): Promise<ActionResult>;
  /** A core/v1 Event on the Deployment; repeats bump its count, as client-go's recorder does. */
  recordEvent(reason: string, message: string, type: EventType): Promise<ActionResult>;
  /** Sets (or with null removes) one annotation on the Deployment. */
  annotate(key: string, value: string | null): Promise<ActionResult>;
  /** The rollout state saved on the Deployment, or null when none is. */
  readState(): Promise<string | null>;
  /** Saves the rollout state (JSON), guarded by resourceVersion. */
  writeState(json: string): Promise<ActionResult>;
  /**
   * Read-modify-write of the state under optimistic concurrency: `mutate` sees the current value
   * and returns the next (or the same to leave it); on a conflict it runs again on the fresh value.
   */
  updateState(mutate: (current: string | null) => string | null | Promise<string | null>): Promise<ActionResult>;
  /** Writes the abort annotation (JSON, bounded in size; see abort-record.ts). */
  recordAbort(recordJson: string): Promise<ActionResult>;
}

const nothing = (detail: string): Promise<ActionResult> => Promise.resolve({ changed: false, detail });

/** For glidepath without a Deployment (a static endpoints file): every action is a no-op. */
export const noDeploymentActions: DeploymentActions = {
  setPaused: () => nothing('no Deployment: nothing to pause'),
  rollback: () => nothing('no Deployment: nothing to roll back'),
  abortAction: () => nothing('no Deployment: no abort action'),
  recordEvent: () => nothing('no Deployment: no Event'),
  annotate: () => nothing('no Deployment: no annotation'),
  readState: () => Promise.resolve(null),
  writeState: () => nothing('no Deployment: state kept in memory only'),
  updateState: () => nothing('no Deployment: state kept in memory only'),
  recordAbort: () => nothing('no Deployment: no abort record'),
};
