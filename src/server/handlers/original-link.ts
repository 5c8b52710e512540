// The original way (docs/protocol.md §4.1): a new connection per call (handler-call.ts).
import type { JsonData } from '../../protocol/json-text.ts';
import { CallList, sendToHandler, type HandlerCallOptions } from './handler-call.ts';
import { callBySend, linkClosed, type CallReceiver, type HandlerLink, type HandlerProtocolStatus } from './handler-link.ts';

const STATUS: HandlerProtocolStatus = Object.freeze({ protocol: 'original', connections: 0 });

export class OriginalLink implements HandlerLink {
  readonly #socketPath: string;
  /** The calls in flight, so that close() can settle them (an intrusive list: nothing allocated per call). */
  readonly #calls = new CallList();

  constructor(socketPath: string) {
    this.#socketPath = socketPath;
  }

  call(input: JsonData, options: HandlerCallOptions): Promise<JsonData> {
    return callBySend((receiver) => this.send(input, options, receiver));
  }

  send(input: JsonData, options: HandlerCallOptions, receiver: CallReceiver): void {
    if (this.#calls.closed) receiver.fail(linkClosed(this.#socketPath));
    else sendToHandler(this.#socketPath, input, options, receiver, this.#calls);
  }

  status(): HandlerProtocolStatus {
    return STATUS;
  }

  close(): void {
    this.#calls.close();
  }
}
