// The kept notice (docs/scaling.md "Back from a cut"): a node that kept a delivery for users in the
// offline queue says so to the other nodes, and a node holding sessions of one of those users
// flushes it to them at once (offline/catch-up.ts). It closes a race: a node back from a cut has
// its sessions written into presence again a little after it reads the queue, and a delivery kept
// by another node in between would otherwise wait for the user's next login. Redis pub/sub
// (../redis/kept-notice.ts): fire and forget, with bounded retries when it cannot be sent.

export interface KeptNotice {
  /** Tells the other nodes deliveries were kept for `users`. Retried (bounded) when Redis does not take it; never throws. */
  send(users: readonly string[]): void;
  /** `listener` is called with the users another node kept deliveries for. */
  onKept(listener: (users: readonly string[]) => void): void;
  /** True while notices are heard (the subscription's connection is up). */
  ready(): boolean;
  /** Idempotent. Stops listening and sending (retries waiting are given up). */
  close(): Promise<void>;
}
