// A small typed event emitter for the client SDK, with node:events' EventEmitter API (so code
// written for the Node client, `events.once(client, 'delivery')` included, keeps working): the
// client runs in browsers too, where node:events does not exist (docs/sdk.md "In a browser").
// One difference: emitting 'error' with no listener is not a throw here; the client emits it only
// when someone listens (docs/sdk.md).

type Listener<Args extends unknown[]> = (...args: Args) => void;
type AnyListener = (...args: never[]) => void;

interface Entry {
  readonly fn: AnyListener;
  readonly once: boolean;
}

export class Emitter<Events extends Record<keyof Events, unknown[]>> {
  /** Each list is replaced, never changed in place: an emit loops over the listeners as they were. */
  readonly #listeners = new Map<keyof Events, readonly Entry[]>();
  #maxListeners = 10;

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    return this.#add(event, listener, false, false);
  }

  addListener<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    return this.#add(event, listener, false, false);
  }

  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    return this.#add(event, listener, true, false);
  }

  prependListener<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    return this.#add(event, listener, false, true);
  }

  prependOnceListener<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    return this.#add(event, listener, true, true);
  }

  /** Removes the most recently added registration of `listener`, as node:events does. */
  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const entry = (this.#listeners.get(event) ?? []).findLast((e) => e.fn === (listener as unknown as AnyListener));
    if (entry !== undefined) this.#remove(event, entry);
    return this;
  }

  removeListener<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    return this.off(event, listener);
  }

  removeAllListeners(event?: keyof Events): this {
    if (event === undefined) this.#listeners.clear();
    else this.#listeners.delete(event);
    return this;
  }

  listenerCount(event: keyof Events): number {
    return this.#listeners.get(event)?.length ?? 0;
  }

  listeners<K extends keyof Events>(event: K): Array<Listener<Events[K]>> {
    return (this.#listeners.get(event) ?? []).map((e) => e.fn as unknown as Listener<Events[K]>);
  }

  rawListeners<K extends keyof Events>(event: K): Array<Listener<Events[K]>> {
    return this.listeners(event);
  }

  eventNames(): Array<keyof Events> {
    return [...this.#listeners.keys()];
  }

  /** Kept for the node:events API; this emitter never warns. */
  setMaxListeners(n: number): this {
    this.#maxListeners = n;
    return this;
  }

  getMaxListeners(): number {
    return this.#maxListeners;
  }

  /** Calls the listeners in the order they were added; true when there was at least one. */
  emit<K extends keyof Events>(event: K, ...args: Events[K]): boolean {
    const list = this.#listeners.get(event);
    if (list === undefined) return false;
    for (const entry of list) {
      if (entry.once) this.#remove(event, entry);
      (entry.fn as unknown as Listener<Events[K]>)(...args);
    }
    return true;
  }

  #remove(event: keyof Events, entry: Entry): void {
    const rest = (this.#listeners.get(event) ?? []).filter((e) => e !== entry);
    if (rest.length === 0) this.#listeners.delete(event);
    else this.#listeners.set(event, rest);
  }

  #add<K extends keyof Events>(event: K, listener: Listener<Events[K]>, once: boolean, first: boolean): this {
    if (typeof listener !== 'function') throw new TypeError('the listener must be a function');
    const list = this.#listeners.get(event) ?? [];
    const entry: Entry = { fn: listener as unknown as AnyListener, once };
    this.#listeners.set(event, first ? [entry, ...list] : [...list, entry]);
    return this;
  }
}
