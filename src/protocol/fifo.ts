// A first-in first-out queue that keeps its room when it empties (docs/performance.md, "Queues
// that keep their room"). An array used as a queue, pushed to and shifted down to empty, gives
// its backing store back at every emptying and grows a new one at the next push: V8 trims a store
// that holds more than about twice the array's length plus 16, which is every store an array
// grew when it was pushed to while empty (17 slots). Each read through a connection's frame
// decoder and each message through its pipeline paid that: a runtime call and a new store, 112 ns
// where this ring takes 17 (node bench/path-costs.ts). No I/O here.

/** The room a queue takes at its first push: enough for the usual backlog, small for an idle connection. */
const FIRST_ROOM = 4;

export class Fifo<T> {
  /** A ring: `#length` items from `#head`, wrapping; its length a power of two, never shrunk. */
  #ring: Array<T | undefined> = [];
  #head = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(item: T): void {
    if (this.#length === this.#ring.length) this.#grow();
    this.#ring[(this.#head + this.#length) & (this.#ring.length - 1)] = item;
    this.#length++;
  }

  /** Removes and returns the first item; undefined when empty. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#ring[this.#head];
    this.#ring[this.#head] = undefined; // held by nobody once handed out
    this.#head = (this.#head + 1) & (this.#ring.length - 1);
    this.#length--;
    return item;
  }

  /** The item `i` places from the first (0 <= i < length), left in place; undefined out of range. */
  at(i: number): T | undefined {
    return i >= 0 && i < this.#length ? this.#ring[(this.#head + i) & (this.#ring.length - 1)] : undefined;
  }

  /** Drops every item, keeping the room. */
  clear(): void {
    while (this.#length > 0) this.shift();
    this.#head = 0;
  }

  #grow(): void {
    const old = this.#ring;
    const room = old.length === 0 ? FIRST_ROOM : old.length * 2;
    const ring = new Array<T | undefined>(room).fill(undefined); // exactly `room` slots
    for (let i = 0; i < this.#length; i++) ring[i] = old[(this.#head + i) & (old.length - 1)];
    this.#ring = ring;
    this.#head = 0;
  }
}
