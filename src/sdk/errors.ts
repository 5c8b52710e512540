// Errors the client and informer SDKs reject with (STYLE.md #6): one class with a `code`, and
// subclasses only where callers branch (a refused login, a `bad` answer, the informer saying no).
import type { ErrorCode } from '../protocol/errors.ts';

/** Codes raised on the client side; the server's own codes (docs/protocol.md §7) pass through as they are. */
export type ClientSideCode =
  | 'bad_address' // the server address could not be read
  | 'connect_failed' // the socket could not be opened
  | 'connection_closed' // the connection ended (a pending request can no longer be answered)
  | 'not_connected' // sent while disconnected, or after close()
  | 'timeout' // no answer in time
  | 'bad_server_frame' // the server sent something that is not a Bester frame
  | 'send_buffer_full' // too much queued for a server that is not reading
  | 'duplicate_id' // a message id that is still waiting for its answer
  | 'informer_error'; // the informer answered status "1"

/** A server newer than this SDK may send codes outside the union; they are kept as they are. */
export type ClientErrorCode = ClientSideCode | ErrorCode | (string & {});

export class ClientError extends Error {
  readonly code: ClientErrorCode;

  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClientError';
    this.code = code;
  }
}

/** The server refused the login (docs/protocol.md §2.3): `code` is the server's ('auth_failed' mostly). */
export class LoginError extends ClientError {
  readonly reason: string;

  constructor(code: ClientErrorCode, reason: string) {
    super(code, `login refused: ${reason}`);
    this.name = 'LoginError';
    this.reason = reason;
  }
}

/** A `bad` status report, raised only when the caller asked for it (`throwOnBad`). */
export class SendError extends ClientError {
  readonly id: string;
  readonly reason: string;
  readonly undelivered: readonly string[] | undefined;

  constructor(id: string, code: ClientErrorCode, reason: string, undelivered?: readonly string[]) {
    super(code, `message ${JSON.stringify(id)} failed: ${reason}`);
    this.name = 'SendError';
    this.id = id;
    this.reason = reason;
    this.undelivered = undelivered;
  }
}

/** The informer answered status "1"; `message` is its error text. */
export class InformerError extends ClientError {
  constructor(message: string) {
    super('informer_error', message);
    this.name = 'InformerError';
  }
}

export function isClientError(value: unknown): value is ClientError {
  return value instanceof ClientError;
}
