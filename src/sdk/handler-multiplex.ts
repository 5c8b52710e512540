// The handler SDK's side of multiplex/1 (docs/protocol.md §4.5), for src/sdk/handler.ts: once the
// daemon accepted the greeting, every request `{"id", "input"}` runs at once and is answered
// `{"id", "reply"}` as soon as it settles, in any order.
import type { FrameConnection } from '../framing/frame-connection.ts';
import { encodeJsonPieces, parseFrameJson, type OutFrame } from '../protocol/frame.ts';
import { multiplexReplyPieces, readMultiplexRequest } from '../protocol/handler-multiplex.ts';

/** Requests running at once on one connection before reading pauses (the daemon bounds its calls too). */
const MAX_RUNNING = 1024;

export class MultiplexSession {
  readonly #conn: FrameConnection;
  /** Runs the handler function on one request's input; never rejects (failures are status "1" replies). */
  readonly #answer: (input: unknown) => Promise<unknown>;
  readonly #refuse: (err: unknown) => unknown;
  readonly #onError: (err: unknown) => void;
  #running = 0;
  #finishing = false;

  constructor(
    conn: FrameConnection,
    answer: (input: unknown) => Promise<unknown>,
    refuse: (err: unknown) => unknown,
    onError: (err: unknown) => void,
  ) {
    this.#conn = conn;
    this.#answer = answer;
    this.#refuse = refuse;
    this.#onError = onError;
  }

  /** One request frame (§4.5.2). A frame that is not one cannot be answered by id: the connection is closed. */
  request(body: Buffer): void {
    let request: { id: number; input: unknown } | null = null;
    try {
      request = readMultiplexRequest(parseFrameJson(body));
    } catch (err) {
      this.#onError(err);
    }
    if (request === null) {
      this.#onError(new Error('a frame that is not a multiplex request {"id", "input"}; closing the connection'));
      this.#conn.destroy();
      return;
    }
    this.#running++;
    if (this.#running >= MAX_RUNNING) this.#conn.pause();
    void this.#run(request.id, request.input);
  }

  /** Answer the requests running, then close; nothing new is read. */
  finish(): void {
    this.#finishing = true;
    if (this.#running === 0) this.#conn.close();
  }

  async #run(id: number, input: unknown): Promise<void> {
    const reply = await this.#answer(input);
    let frame: OutFrame;
    try {
      frame = encodeJsonPieces(multiplexReplyPieces(id, reply));
    } catch (err) {
      this.#onError(err);
      frame = encodeJsonPieces(multiplexReplyPieces(id, this.#refuse(err)));
    }
    this.#running--;
    if (!this.#conn.sendFrame(frame)) return; // the connection is gone
    if (this.#finishing && this.#running === 0) this.#conn.close();
    else if (this.#running === MAX_RUNNING - 1) this.#conn.resume();
  }
}
