// What the deliverer, the session and the informer see of offline delivery (docs/protocol.md §4.3.1).
import type { ServerEvents } from '../events.ts';
import type { AccountStore } from '../accounts/account-store.ts';
import type { OfflineConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { SessionRegistry } from '../session/registry.ts';
import type { OfflineQueue } from '../storage/offline-queue.ts';

/** The delivery type a sender receives when a message kept for an offline user expired. */
export const OFFLINE_NOTICE_TYPE = 'bester.offline';

/** Who sent the message being kept (for the expiry notice). */
export interface KeepContext {
  /** The type of the message the sender sent (the first of a sendHandler chain). */
  readonly type: string;
  readonly id: string | null;
  readonly sender: string | null;
  /** The server where it entered the federation; absent for a message from one of our clients. */
  readonly origin?: string;
}

/** What became of recipients who were not connected when the delivery was made. */
export interface KeepResult {
  /** Kept for their next login. */
  readonly stored: string[];
  /** Logged in while their account was looked up: delivered at once. */
  readonly delivered: string[];
  /** No such account: not kept (reported as undelivered, as before). */
  readonly unknown: string[];
  /** Over offline.maxPerUser, maxBytesPerUser or maxBytes: not kept. */
  readonly full: string[];
  /** Why each of `full` was not kept (the queue's reason: messages, bytes, or the server's total). */
  readonly fullReasons?: Record<string, string>;
  /** The store failed (logged): not kept. */
  readonly failed: string[];
}

/** A just-logged-in connection, as the flush sees it. */
export interface FlushTarget {
  /**
   * Writes one frame ahead of anything held back for the connection. `written(true)` once it was
   * handed to the OS, `written(false)` if it never will be. Returns false (no callback) when closed.
   */
  write(frame: Buffer, written: (ok: boolean) => void): boolean;
  /** At most this many bytes are written before waiting for them (below the connection's outbound limit). */
  readonly batchBytes?: number;
}

/** What the keeper, the flusher and the sweeper share. */
export interface OfflineParts {
  readonly queue: OfflineQueue;
  readonly accounts: Pick<AccountStore, 'has'>;
  readonly config: OfflineConfig;
  readonly registry: SessionRegistry;
  readonly logger: Logger;
  /** The core's events: `delivery.expired` after a sweep removed messages. */
  readonly events?: ServerEvents;
}
