// The seam between discovery and the rest: a source pushes plain snapshots, never Kubernetes objects.

import type { DiscoverySnapshot } from '../core/types.ts';

export interface DiscoveryListener {
  /** A complete, validated view; replaces the previous one. */
  onSnapshot(snapshot: DiscoverySnapshot): void;
  /** The source could not produce a view; the last good snapshot stays in force. */
  onError(err: Error): void;
}

export interface DiscoverySource {
  /** Human description for logs and /status. */
  readonly description: string;
  /**
   * Delivers the first snapshot before resolving (or rejects), then keeps delivering changes.
   * A source behind a remote API may instead resolve after reporting its first problem through
   * onError, and deliver the first snapshot once the problem clears (readiness waits for it).
   */
  start(listener: DiscoveryListener): Promise<void>;
  close(): Promise<void>;
}
