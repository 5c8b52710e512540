// A started handler's stdout and stderr, as log lines. Each line is logged as it comes, except
// while the handler is failing again and again (docs/operations.md, "Logs"): then its lines are
// held, and the one line logged per restart carries the last few lines of its stderr instead of
// its whole trace each time. Held lines are logged once the handler becomes ready.
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';

/** Longest stdout/stderr line logged, in characters; the rest of the line is dropped. */
const MAX_LINE_CHARS = 4096;
/** stderr lines kept for the restart line. */
export const STDERR_TAIL_LINES = 5;
/** Lines held while failing; older ones are dropped (the tail is kept apart). */
const MAX_HELD_LINES = 200;

export type OutputStream = 'stdout' | 'stderr';

export class HandlerOutput {
  readonly #emit: (stream: OutputStream, line: string) => void;
  #holding: boolean;
  #held: Array<{ stream: OutputStream; line: string }> = [];
  #tail: string[] = [];
  #open = 0;
  readonly #waiters = new Set<() => void>();

  /** `holding`: keep the lines instead of logging them, until release(). */
  constructor(emit: (stream: OutputStream, line: string) => void, holding: boolean) {
    this.#emit = emit;
    this.#holding = holding;
  }

  attach(child: ChildProcess): void {
    const streams = [child.stdout, child.stderr].filter((stream) => stream !== null);
    this.#open = streams.length;
    if (child.stdout) forwardLines(child.stdout, (line) => this.#line('stdout', line), () => this.#ended());
    if (child.stderr) forwardLines(child.stderr, (line) => this.#line('stderr', line), () => this.#ended());
  }

  /**
   * Calls `then` once the child's output has ended, or after `maxWaitMs`: a child's exit can be
   * seen before the last lines it wrote have been read, and the restart line quotes them.
   */
  afterEnd(maxWaitMs: number, then: () => void): void {
    if (this.#open === 0) {
      then();
      return;
    }
    const timer = setTimeout(() => finish(), maxWaitMs);
    const finish = (): void => {
      clearTimeout(timer);
      this.#waiters.delete(finish);
      then();
    };
    this.#waiters.add(finish);
  }

  #ended(): void {
    this.#open -= 1;
    if (this.#open === 0) for (const waiter of [...this.#waiters]) waiter();
  }

  /** The handler is ready: log what was held, then every line as it comes. */
  release(): void {
    this.#holding = false;
    const held = this.#held;
    this.#held = [];
    for (const { stream, line } of held) this.#emit(stream, line);
  }

  /** The last lines the handler wrote to stderr (at most STDERR_TAIL_LINES). */
  stderrTail(): string[] {
    return [...this.#tail];
  }

  #line(stream: OutputStream, line: string): void {
    if (stream === 'stderr') {
      this.#tail.push(line);
      if (this.#tail.length > STDERR_TAIL_LINES) this.#tail.shift();
    }
    if (!this.#holding) {
      this.#emit(stream, line);
      return;
    }
    this.#held.push({ stream, line });
    if (this.#held.length > MAX_HELD_LINES) this.#held.shift();
  }
}

/** Calls `emit` with each line of a child's output, at most MAX_LINE_CHARS of each. */
export function forwardLines(stream: Readable, emit: (line: string) => void, ended: () => void = () => {}): void {
  let partial = '';
  let dropping = false; // the current line was already cut at MAX_LINE_CHARS
  const flush = (): void => {
    const line = partial.endsWith('\r') ? partial.slice(0, -1) : partial;
    if (line.length > 0) emit(line);
    partial = '';
  };
  stream.setEncoding('utf8');
  stream.on('error', () => {}); // the child is going away; its exit is what gets reported
  stream.once('close', ended);
  stream.on('data', (text: string) => {
    let start = 0;
    for (;;) {
      const newline = text.indexOf('\n', start);
      const end = newline < 0 ? text.length : newline;
      if (!dropping) {
        partial += text.slice(start, Math.min(end, start + MAX_LINE_CHARS - partial.length + 1));
        if (partial.length > MAX_LINE_CHARS) {
          partial = `${partial.slice(0, MAX_LINE_CHARS)}…`;
          flush();
          dropping = true;
        }
      }
      if (newline < 0) return;
      if (!dropping) flush();
      dropping = false;
      start = newline + 1;
    }
  });
  stream.on('end', () => {
    if (!dropping) flush();
  });
}
