// The delivery bus (delivery-bus.ts) in memory: several nodes (daemons) in one process given the
// same instance reach one another's sessions through it. Each subscriber has its own queue, taken
// one delivery at a time, so a listener sees deliveries in publish order and never two at once.
import { BesterError } from '../../protocol/errors.ts';
import { closedError } from '../storage/store-error.ts';
import type { BusDelivery, DeliveryBus, DeliveryListener } from './delivery-bus.ts';

interface Pending {
  readonly delivery: BusDelivery;
  readonly taken: () => void;
  readonly failed: (err: BesterError) => void;
}

interface Subscriber {
  readonly node: string;
  readonly listener: DeliveryListener;
  readonly queue: Pending[];
  running: boolean;
  active: boolean;
}

export class MemoryDeliveryBus implements DeliveryBus {
  readonly #byNode = new Map<string, Set<Subscriber>>();
  #closed = false;

  subscribe(node: string, onDelivery: DeliveryListener): Promise<() => Promise<void>> {
    if (this.#closed) return Promise.reject(closedError('memory delivery bus'));
    const sub: Subscriber = { node, listener: onDelivery, queue: [], running: false, active: true };
    let set = this.#byNode.get(node);
    if (!set) this.#byNode.set(node, (set = new Set()));
    set.add(sub);
    return Promise.resolve(() => {
      this.#end(sub, `node "${node}" unsubscribed before taking the delivery`);
      return Promise.resolve();
    });
  }

  publish(node: string, delivery: BusDelivery): Promise<void> {
    if (this.#closed) return Promise.reject(closedError('memory delivery bus'));
    const subs = this.#byNode.get(node);
    if (!subs || subs.size === 0) return Promise.reject(new BesterError('store_error', `no subscriber for node "${node}"`));
    // A copy: the publisher may reuse its array; every subscriber sees what was published.
    const copy: BusDelivery = { users: [...delivery.users], frame: delivery.frame, ...(delivery.kept === undefined ? {} : { kept: { ...delivery.kept } }) };
    const taken = [...subs].map(
      (sub) =>
        new Promise<void>((resolve, reject) => {
          sub.queue.push({ delivery: copy, taken: resolve, failed: reject });
          this.#drain(sub);
        }),
    );
    return Promise.all(taken).then(() => undefined);
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    for (const subs of this.#byNode.values()) for (const sub of subs) this.#end(sub, 'the delivery bus closed');
    this.#byNode.clear();
    return Promise.resolve();
  }

  /** Hands the subscriber its queue, one delivery at a time (started on the next microtask, never inside publish). */
  #drain(sub: Subscriber): void {
    if (sub.running) return;
    sub.running = true;
    this.#run(sub).then(undefined, () => {
      sub.running = false; // #run catches everything; this only keeps the promise handled
    });
  }

  async #run(sub: Subscriber): Promise<void> {
    await Promise.resolve();
    for (;;) {
      const next = sub.queue.shift();
      if (next === undefined || !sub.active) {
        // Cleared in the same step as the empty check: a publish from now on starts a new run.
        sub.running = false;
        return;
      }
      try {
        await sub.listener(next.delivery);
        next.taken();
      } catch (err) {
        const detail = err instanceof Error ? `: ${err.message}` : '';
        next.failed(new BesterError('store_error', `node "${sub.node}" could not take a delivery${detail}`, { cause: err }));
      }
    }
  }

  #end(sub: Subscriber, reason: string): void {
    if (!sub.active) return;
    sub.active = false;
    const set = this.#byNode.get(sub.node);
    set?.delete(sub);
    if (set?.size === 0) this.#byNode.delete(sub.node);
    for (const pending of sub.queue.splice(0)) pending.failed(new BesterError('store_error', reason));
  }
}
