// Presence (presence.ts) in memory. Several daemons in one process given the same instance see one
// another's sessions: that is how tests prove the seam without Redis.
import { closedError } from '../storage/store-error.ts';
import type { Presence } from './presence.ts';

export class MemoryPresence implements Presence {
  /** user -> node -> session ids. Empty sets and maps are deleted, so `users()` is exact. */
  readonly #byUser = new Map<string, Map<string, Set<string>>>();
  #count = 0;
  #closed = false;

  #rejectClosed<T>(): Promise<T> {
    return Promise.reject(closedError('memory presence'));
  }

  add(user: string, node: string, sessionId: string): Promise<void> {
    if (this.#closed) return this.#rejectClosed();
    let nodes = this.#byUser.get(user);
    if (!nodes) this.#byUser.set(user, (nodes = new Map<string, Set<string>>()));
    let sessions = nodes.get(node);
    if (!sessions) nodes.set(node, (sessions = new Set<string>()));
    if (!sessions.has(sessionId)) {
      sessions.add(sessionId);
      this.#count++;
    }
    return Promise.resolve();
  }

  remove(user: string, node: string, sessionId: string): Promise<void> {
    if (this.#closed) return this.#rejectClosed();
    const nodes = this.#byUser.get(user);
    const sessions = nodes?.get(node);
    if (nodes && sessions?.delete(sessionId)) {
      this.#count--;
      if (sessions.size === 0) nodes.delete(node);
      if (nodes.size === 0) this.#byUser.delete(user);
    }
    return Promise.resolve();
  }

  nodesOf(user: string): Promise<string[]> {
    if (this.#closed) return this.#rejectClosed();
    return Promise.resolve([...(this.#byUser.get(user)?.keys() ?? [])].sort());
  }

  users(): Promise<string[]> {
    if (this.#closed) return this.#rejectClosed();
    return Promise.resolve([...this.#byUser.keys()].sort());
  }

  count(): Promise<number> {
    if (this.#closed) return this.#rejectClosed();
    return Promise.resolve(this.#count);
  }

  sessionsPerNode(): Promise<Record<string, number>> {
    if (this.#closed) return this.#rejectClosed();
    const out: Record<string, number> = {};
    for (const nodes of this.#byUser.values()) for (const [node, sessions] of nodes) out[node] = (out[node] ?? 0) + sessions.size;
    return Promise.resolve(out);
  }

  dropNode(node: string): Promise<number> {
    if (this.#closed) return this.#rejectClosed();
    let dropped = 0;
    for (const [user, nodes] of this.#byUser) {
      const sessions = nodes.get(node);
      if (!sessions) continue;
      dropped += sessions.size;
      nodes.delete(node);
      if (nodes.size === 0) this.#byUser.delete(user);
    }
    this.#count -= dropped;
    return Promise.resolve(dropped);
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#byUser.clear();
    this.#count = 0;
    return Promise.resolve();
  }
}
