// The presence contract: which node holds sessions of which user, for a server made of several
// daemons (nodes) sharing one presence (the cluster, docs/architecture.md "Presence and the delivery bus"). Memory now
// (memory-presence.ts: one instance shared by several daemons in one process), Redis (../redis/presence.ts); every
// implementation passes test/contract/presence.contract.ts.
//
// Presence is not durable, so there is no SQLite implementation: after a restart nobody is
// connected to the restarted node, and its entries must be dropped (dropNode), not reloaded.
// A single daemon keeps using its SessionRegistry, which is exact and synchronous; presence answers
// the question the registry cannot: "on which other nodes is this user?".

export interface Presence {
  /** Session `sessionId` of `user` is open on `node`. Adding the same triple twice counts it once. */
  add(user: string, node: string, sessionId: string): Promise<void>;
  /** The session closed. Removing one that is not there does nothing. */
  remove(user: string, node: string, sessionId: string): Promise<void>;
  /** The nodes holding at least one session of `user`, each once, sorted (empty: offline everywhere). */
  nodesOf(user: string): Promise<string[]>;
  /** Users with at least one session anywhere, each once, sorted. */
  users(): Promise<string[]>;
  /** Sessions open, on every node (a user connected twice counts twice). */
  count(): Promise<number>;
  /** Sessions open per node, for the nodes holding at least one (the informer's serverInfo, §9.4.3). */
  sessionsPerNode(): Promise<Record<string, number>>;
  /** Forgets every session of `node` (it stopped or restarted): resolves to how many were dropped. */
  dropNode(node: string): Promise<number>;
  /** Idempotent. Any other call after close rejects with BesterError('store_error'). */
  close(): Promise<void>;
}
