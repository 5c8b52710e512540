// The WebSocket transport of the client SDK (src/sdk/transport.ts): one Bester frame per WebSocket
// text message, subprotocol "bester.v1" (docs/protocol.md §1.5); the WebSocket framing
// carries the length the 4-byte prefix carries on a socket. It uses the standard WebSocket global
// (browsers, Node 24) and nothing from node:*, so the client SDK runs in a browser as it does in Node.
// Liveness at the WebSocket level (ping/pong) is the WebSocket implementation's job; the Bester
// pings of §5.3 are answered by the Link as on a socket.
import type { WebSocketAddress } from './address.ts';
import { ClientError } from './errors.ts';
import type { SendResult, Transport, TransportEvents, TransportOptions } from './transport.ts';

export const SUBPROTOCOL = 'bester.v1';

/** Close codes that mean a normal end (RFC 6455 §7.4.1): 1000 normal, 1001 going away. */
const CLEAN_CLOSE_CODES = new Set([1000, 1001]);

/** UTF-8 length of a string, counted without encoding it. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      bytes += 4; // a surrogate pair: one 4-byte character
      i++;
    } else bytes += 3;
  }
  return bytes;
}

export function openWebSocketTransport(address: WebSocketAddress, options: TransportOptions): Promise<Transport> {
  const label = address.url;
  return new Promise((resolve, reject) => {
    const { signal } = options;
    if (signal?.aborted === true) {
      reject(new ClientError('connection_closed', `connecting to ${label} was cancelled`));
      return;
    }
    if (options.tls?.ca !== undefined) {
      // A browser's WebSocket (and Node's) trusts the platform's CAs only: a CA given here would be ignored.
      reject(new ClientError('bad_address', `a CA cannot be given for the WebSocket address ${label}: wss:// uses the platform's trusted CAs`));
      return;
    }
    let socket: WebSocket;
    try {
      socket = new WebSocket(address.url, SUBPROTOCOL);
    } catch (err) {
      reject(new ClientError('connect_failed', `cannot connect to ${label}: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
      return;
    }
    socket.binaryType = 'arraybuffer';
    const transport = new WebSocketTransport(label, socket, options);
    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeEventListener('open', onOpen);
      socket.removeEventListener('error', onError);
    };
    const fail = (err: ClientError): void => {
      cleanup();
      transport.destroy();
      reject(err);
    };
    const timer = setTimeout(() => {
      fail(new ClientError('timeout', `cannot connect to ${label}: no answer within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    const onAbort = (): void => fail(new ClientError('connection_closed', `connecting to ${label} was cancelled`));
    // Browsers say nothing about why (on purpose); Node's WebSocket gives a message.
    const onError = (event: Event): void => {
      const detail = (event as { message?: unknown }).message;
      const why = typeof detail === 'string' && detail !== '' ? detail : 'the WebSocket connection failed';
      fail(new ClientError('connect_failed', `cannot connect to ${label}: ${why}`));
    };
    const onOpen = (): void => {
      cleanup();
      resolve(transport);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.addEventListener('open', onOpen);
    socket.addEventListener('error', onError);
  });
}

class WebSocketTransport implements Transport {
  readonly label: string;
  readonly #socket: WebSocket;
  readonly #options: TransportOptions;
  #events: TransportEvents | null = null;
  /** A WebSocket cannot stop reading: what arrives while paused (or before start) waits here, in order. */
  readonly #waiting: Array<string | Error> = [];
  #paused = false;
  #stopped = false;
  #closed = false;
  #closedReported = false;
  #loss: { reason: string } | null = null;

  constructor(label: string, socket: WebSocket, options: TransportOptions) {
    this.label = label;
    this.#socket = socket;
    this.#options = options;
    socket.addEventListener('message', (event) => this.#onMessage(event));
    socket.addEventListener('error', (event) => {
      const detail = (event as { message?: unknown }).message;
      this.#loss ??= { reason: typeof detail === 'string' && detail !== '' ? detail : 'the WebSocket connection failed' };
    });
    socket.addEventListener('close', (event) => this.#onClose(event));
  }

  get isOpen(): boolean {
    return !this.#stopped && this.#socket.readyState === WebSocket.OPEN;
  }

  start(events: TransportEvents): void {
    this.#events = events;
    this.#flush();
  }

  send(json: string): SendResult {
    if (!this.isOpen) return 'closed';
    // bufferedAmount: bytes queued but not sent yet. The message is 1 to 3 bytes per UTF-16 unit:
    // counted exactly only when that decides.
    const max = this.#options.maxOutboundBytes;
    const queued = this.#socket.bufferedAmount;
    if (queued + json.length > max || (queued + json.length * 3 > max && queued + utf8Length(json) > max)) return 'full';
    this.#socket.send(json);
    return 'sent';
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#flush();
  }

  close(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#socket.close(1000);
  }

  destroy(): void {
    this.#stopped = true;
    this.#waiting.length = 0;
    if (this.#socket.readyState === WebSocket.CONNECTING || this.#socket.readyState === WebSocket.OPEN) this.#socket.close(1000);
  }

  #onMessage(event: MessageEvent): void {
    if (this.#stopped) return;
    const data: unknown = event.data;
    let item: string | Error;
    if (typeof data !== 'string') {
      item = new Error('a binary WebSocket message (Bester frames are text messages)');
    } else if (data.length > this.#options.maxFrameBytes || (data.length * 3 > this.#options.maxFrameBytes && utf8Length(data) > this.#options.maxFrameBytes)) {
      item = Object.assign(new Error(`frame of ${utf8Length(data)} bytes is over the limit of ${this.#options.maxFrameBytes} bytes`), { code: 'frame_too_large' });
    } else item = data;
    this.#waiting.push(item);
    this.#flush();
  }

  #flush(): void {
    const events = this.#events;
    if (events === null) return;
    while (!this.#paused && !this.#stopped && this.#waiting.length > 0) {
      const item = this.#waiting.shift()!;
      if (typeof item === 'string') events.text(item);
      else if ('code' in item) {
        this.destroy();
        events.broken(item);
      } else events.invalid(item.message);
    }
    if (this.#closed && this.#waiting.length === 0) this.#reportClosed();
  }

  #onClose(event: CloseEvent): void {
    this.#closed = true;
    if (!event.wasClean || !CLEAN_CLOSE_CODES.has(event.code)) {
      const why = event.reason !== '' ? `: ${event.reason}` : '';
      this.#loss ??= { reason: `the WebSocket closed with code ${event.code}${why}` };
    }
    // Frames that came before the close are handed out first (a paused owner gets them on resume).
    if (this.#stopped) this.#waiting.length = 0;
    if (this.#waiting.length === 0) this.#reportClosed();
  }

  #reportClosed(): void {
    if (this.#closedReported || this.#events === null) return;
    this.#closedReported = true;
    this.#events.closed(this.#loss);
  }
}
