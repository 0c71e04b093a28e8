// The contract between the analysis (which watches every request) and the pure decide(): what the
// evidence about a canary says at one instant, with the numbers that justify it.

/** Why a rollout was aborted. */
export type AbortReason =
  /** The canary fails more often than stable (relative e-process, plain or Shiryaev-Roberts form). */
  | 'failure-rate'
  /** The canary fails more often than the budget's absolute rate allows. */
  | 'absolute-rate'
  /** The canary's latency exceeds pooled p50/p90/p99 thresholds more often than stable's. */
  | 'latency'
  /** Client-visible failures caused by the canary reached the budget. */
  | 'budget'
  /** The new ReplicaSet's pods keep crashing or never become ready (from the cluster view). */
  | 'unhealthy-pods'
  /** An operator said so (`glidepath abort`). */
  | 'manual';

/** One component of the average e-process, in log space. */
export interface ComponentEvidence {
  readonly name: 'failure-rate' | 'absolute-rate' | 'latency';
  /** ln of the plain mixture e-process since the rollout began. */
  readonly lnE: number;
  /** ln of its Shiryaev-Roberts form. */
  readonly lnSR: number;
  /** Events it has seen (failures, canary requests, or exceedances). */
  readonly events: number;
  /** False when switched off (e.g. the absolute component while stable itself fails above the bound). */
  readonly active: boolean;
}

/** Counts of first attempts (the tests' data) and of client requests (the budget's data). */
export interface ArmCounts {
  readonly requests: number;
  readonly failures: number;
}

export interface BudgetEvidence {
  /** Client requests since the rollout began (every version). */
  readonly clientRequests: number;
  /** Client-visible failures of requests first routed to the canary, beyond stable's own rate. */
  readonly excessFailures: number;
  /** excessFailures / clientRequests. */
  readonly ratio: number;
  /** The budget (0.001 = 0.1 %). */
  readonly limit: number;
  /**
   * Excess failures still affordable by the point estimate, ε·N − X (≥ 0): what a step's worst case
   * is held against.
   */
  readonly remaining: number;
  /** The variance of excessFailures were both versions equal (carried across restarts). */
  readonly excessVariance: number;
  /** How far past ε·N the excess may go before it is more than noise: the budget breaks at X > ε·N + this. */
  readonly noiseAllowance: number;
}

/** The evidence at one instant. Plain data, safe to log, persist and show in /status. */
export interface Evidence {
  readonly canary: string;
  readonly stable: string;
  /** First attempts since the rollout began. */
  readonly canaryAttempts: ArmCounts;
  readonly stableAttempts: ArmCounts;
  /** First attempts on the canary since the current step began (non-inferiority restarts per step). */
  readonly stepCanaryAttempts: ArmCounts;
  /** ln of the average of the three components' plain e-processes (an inactive one holds its value; fixed weights keep the average an e-process), and the bound ln(2/α). */
  readonly lnE: number;
  readonly lnEThreshold: number;
  /** ln of the average of their Shiryaev-Roberts forms, and the bound ln(2·T/α). */
  readonly lnSR: number;
  readonly lnSRThreshold: number;
  readonly components: readonly ComponentEvidence[];
  /** The abort bound was crossed (first reason), or null. Once set it stays set for the rollout. */
  readonly abort: AbortReason | null;
  /** Monotonic ms of the request whose outcome crossed the bound, or null. */
  readonly abortDecidedAt: number | null;
  /** Non-inferiority for the current step: ln E, ln(1/α_adv), and whether it was crossed. */
  readonly advance: { readonly lnE: number; readonly lnThreshold: number; readonly proven: boolean };
  /**
   * Canary first attempts still needed, with no failure, before `proven` could be reached
   * (0 when proven); what a pause for too little traffic reports.
   */
  readonly requestsNeededToProve: number;
  /** Confidence sequence (1-α) for the rate ratio canary/stable within the current step, or null. */
  readonly rateRatio: { readonly lower: number; readonly upper: number } | null;
  /** Pooled latency thresholds in force (ms) for p50, p90, p99, or null before enough data. */
  readonly latencyThresholdsMs: readonly [number, number, number] | null;
  readonly budget: BudgetEvidence;
}
