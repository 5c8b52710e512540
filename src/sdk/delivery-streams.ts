// Async iterators over deliveries, with backpressure (STYLE.md #8): every open iterator gets every
// delivery that arrives after it was made. When one of them holds `highWater` unread deliveries the
// connection is paused (the server then holds the rest, and cuts a client that stalls for too long:
// `slow_consumer`, docs/protocol.md §7); it resumes once every iterator is below half of that.
import type { Delivery } from './server-frames.ts';

export interface DeliveryStreamsOptions {
  readonly highWater: number;
  readonly pause: () => void;
  readonly resume: () => void;
}

interface Stream {
  readonly items: Delivery[];
  head: number;
  readonly waiters: Array<(result: IteratorResult<Delivery, undefined>) => void>;
}

const DONE: IteratorResult<Delivery, undefined> = { done: true, value: undefined };

export class DeliveryStreams {
  readonly #options: DeliveryStreamsOptions;
  readonly #streams = new Set<Stream>();
  #paused = false;
  #ended = false;

  constructor(options: DeliveryStreamsOptions) {
    this.#options = options;
  }

  /** Whether reading from the connection is paused because an iterator is full. */
  get paused(): boolean {
    return this.#paused;
  }

  push(delivery: Delivery): void {
    if (this.#ended) return;
    for (const stream of this.#streams) {
      const waiter = stream.waiters.shift();
      if (waiter) waiter({ done: false, value: delivery });
      else stream.items.push(delivery);
      if (!this.#paused && stream.items.length - stream.head >= this.#options.highWater) {
        this.#paused = true;
        this.#options.pause();
      }
    }
  }

  /** Every iterator finishes once it has handed out what it holds. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const stream of this.#streams) {
      if (stream.items.length - stream.head === 0) this.#detach(stream);
    }
  }

  iterator(): AsyncIterableIterator<Delivery, undefined> {
    const stream: Stream = { items: [], head: 0, waiters: [] };
    if (!this.#ended) this.#streams.add(stream);
    const next = (): Promise<IteratorResult<Delivery, undefined>> => {
      if (stream.head < stream.items.length) {
        const value = stream.items[stream.head]!;
        stream.head += 1;
        if (stream.head > 1024 && stream.head * 2 > stream.items.length) {
          stream.items.splice(0, stream.head);
          stream.head = 0;
        }
        if (this.#ended && stream.head === stream.items.length) this.#detach(stream);
        this.#maybeResume();
        return Promise.resolve({ done: false, value });
      }
      if (this.#ended || !this.#streams.has(stream)) return Promise.resolve(DONE);
      return new Promise((resolve) => stream.waiters.push(resolve));
    };
    const finish = (): Promise<IteratorResult<Delivery, undefined>> => {
      this.#detach(stream);
      return Promise.resolve(DONE);
    };
    return {
      next,
      return: finish,
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  #detach(stream: Stream): void {
    if (!this.#streams.delete(stream)) return;
    stream.items.length = 0;
    stream.head = 0;
    for (const waiter of stream.waiters.splice(0)) waiter(DONE);
    this.#maybeResume();
  }

  #maybeResume(): void {
    if (!this.#paused) return;
    const low = Math.max(1, Math.floor(this.#options.highWater / 2));
    for (const stream of this.#streams) {
      if (stream.items.length - stream.head >= low) return;
    }
    this.#paused = false;
    this.#options.resume();
  }
}
