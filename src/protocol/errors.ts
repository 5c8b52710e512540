// Error codes: one string-literal union, reused as `header.code` on the wire (STYLE.md #6).
// docs/protocol.md lists each code and when it is sent.

export type ErrorCode =
  // framing and message rules (fatal: the connection is closed after the reply)
  | 'frame_too_large'
  | 'malformed_frame'
  | 'malformed_json'
  | 'not_an_object'
  | 'invalid_message'
  | 'login_timeout'
  | 'ping_timeout'
  | 'unknown_scope'
  | 'server_scope_refused'
  // login
  | 'auth_failed'
  | 'login_throttled'
  | 'too_many_connections'
  | 'server_busy'
  | 'tls_required'
  // per message (the connection stays open)
  | 'unknown_type'
  | 'unknown_builtin'
  | 'handler_unavailable'
  | 'handler_timeout'
  | 'handler_bad_reply'
  | 'handler_error'
  | 'handler_chain_too_long'
  | 'overloaded'
  | 'unknown_command'
  | 'recipients_offline'
  | 'recipient_queue_full'
  | 'federation_unavailable'
  // federation (docs/federation.md)
  | 'peer_auth_failed'
  | 'peer_replay'
  | 'unknown_peer'
  | 'peer_queue_full'
  | 'peer_undeliverable'
  // process-level
  | 'config_invalid'
  | 'tls_handshake_failed'
  | 'store_error'
  | 'slow_consumer'
  | 'shutting_down'
  | 'internal_error';

export class BesterError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BesterError';
    this.code = code;
  }
}

/** A configuration file that cannot be used; `message` names the key path and what was expected. */
export class ConfigError extends BesterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('config_invalid', message, options);
    this.name = 'ConfigError';
  }
}

export function isBesterError(value: unknown): value is BesterError {
  return value instanceof BesterError;
}
