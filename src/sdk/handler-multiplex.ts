// The handler SDK's side of multiplex/1 (docs/protocol.md §4.5), for src/sdk/handler.ts: once the
// daemon accepted the greeting, every request `{"id", "input"}` runs at once and is answered
// `{"id", "reply"}` as soon as it settles, in any order.
import type net from 'node:net';
import { encodeJsonFrame, parseFrameJson } from '../protocol/frame.ts';
import { readMultiplexRequest } from '../protocol/handler-multiplex.ts';

/** Requests running at once on one connection before reading pauses (the daemon bounds its calls too). */
const MAX_RUNNING = 1024;

export class MultiplexSession {
  readonly #socket: net.Socket;
  /** Runs the handler function on one request's input; never rejects (failures are status "1" replies). */
  readonly #answer: (input: unknown) => Promise<unknown>;
  readonly #refuse: (err: unknown) => unknown;
  readonly #onError: (err: unknown) => void;
  #running = 0;
  #finishing = false;

  constructor(
    socket: net.Socket,
    answer: (input: unknown) => Promise<unknown>,
    refuse: (err: unknown) => unknown,
    onError: (err: unknown) => void,
  ) {
    this.#socket = socket;
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
      this.#socket.destroy();
      return;
    }
    this.#running++;
    if (this.#running >= MAX_RUNNING) this.#socket.pause();
    void this.#run(request.id, request.input);
  }

  /** Answer the requests running, then close; nothing new is read. */
  finish(): void {
    this.#finishing = true;
    if (this.#running === 0) this.#socket.end();
  }

  async #run(id: number, input: unknown): Promise<void> {
    const reply = await this.#answer(input);
    let frame: Buffer;
    try {
      frame = encodeJsonFrame(`{"id":${id},"reply":${JSON.stringify(reply)}}`);
    } catch (err) {
      this.#onError(err);
      frame = encodeJsonFrame(`{"id":${id},"reply":${JSON.stringify(this.#refuse(err))}}`);
    }
    this.#running--;
    if (this.#socket.destroyed) return;
    this.#socket.write(frame);
    if (this.#finishing && this.#running === 0) this.#socket.end();
    else if (this.#running === MAX_RUNNING - 1) this.#socket.resume();
  }
}
