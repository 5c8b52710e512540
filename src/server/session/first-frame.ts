// The first frame of a connection decides what it is (docs/protocol.md §2.1): a client logging in,
// a legacy server-scope message (§6.2), or a federation peer opening its link (docs/federation.md
// §3). Pure: the session hands the connection to the owner this names.
import type { ErrorCode } from '../../protocol/errors.ts';
import { validateFirstMessage, type Credentials, type ServerPayload } from '../../protocol/messages.ts';
import type { FrameConnection } from '../../framing/frame-connection.ts';
import type { CloseReason } from './close-counters.ts';

export type FirstFrame =
  | { readonly kind: 'client'; readonly credentials: Credentials | null; readonly features: readonly string[] }
  | { readonly kind: 'legacy'; readonly payload: ServerPayload }
  | { readonly kind: 'peer'; readonly hello: unknown }
  | { readonly kind: 'refuse'; readonly code: ErrorCode; readonly reason: string };

export interface FirstFrameRules {
  /** federation.acceptUnauthenticatedServers: legacy server-scope messages are taken (off by default). */
  readonly acceptLegacy: boolean;
  /** Whether anything here accepts peer links. */
  readonly acceptPeers: boolean;
}

export function classifyFirstFrame(value: unknown, rules: FirstFrameRules): FirstFrame {
  const first = validateFirstMessage(value);
  if (!first.ok) return { kind: 'refuse', code: first.code, reason: first.reason };
  switch (first.value.scope) {
    case 'client':
      return { kind: 'client', credentials: first.value.credentials, features: first.value.features };
    case 'server':
      if (!rules.acceptLegacy) return { kind: 'refuse', code: 'server_scope_refused', reason: 'server-scope connections are not accepted by this server' };
      return { kind: 'legacy', payload: first.value.payload };
    case 'peer':
      if (!rules.acceptPeers) return { kind: 'refuse', code: 'server_scope_refused', reason: 'this server has no federation peers' };
      return { kind: 'peer', hello: value };
  }
}

/** What a server-scope owner gets of the connection it takes over. */
export interface ConnectionIo {
  readonly remote: string;
  /** Queues one frame. */
  send(value: unknown): void;
  /** Closes after what was sent is flushed; `reason` is what it is counted as. */
  close(reason: CloseReason): void;
  /** Raises or lowers the largest frame accepted from here on. */
  setMaxFrameBytes(bytes: number): void;
  /** Stops and restarts reading (a peer link's backpressure, docs/federation.md §3.3). */
  pause(): void;
  resume(): void;
}

/** Where a peer link's frames go once its hello was accepted. */
export interface PeerLinkSink {
  /** A parsed frame (a big member of it may read null: parseFrameText's `lazy`), and the frame's bytes. */
  frame(value: unknown, bytes: Buffer): void;
  closed(): void;
}

/** Takes over connections whose first frame is server-scope (federation/server-scope.ts). */
export interface ServerScopeAcceptor {
  /** §6.2: one unauthenticated message, carried out, then the connection is closed. */
  legacy(io: ConnectionIo, payload: ServerPayload): void;
  /** Checks the hello (`text`: the JSON text it was parsed from); the link's frame sink, or null when refused (it answered and closed). */
  peer(io: ConnectionIo, hello: unknown, text: string): PeerLinkSink | null;
}

/** What a server-scope owner gets of `conn`; `close` is the session's own (it counts the reason). */
export function connectionIo(conn: FrameConnection, close: (reason: CloseReason) => void): ConnectionIo {
  return {
    remote: conn.label,
    send: (value) => conn.send(value),
    close,
    setMaxFrameBytes: (bytes) => {
      conn.maxFrameBytes = bytes;
    },
    pause: () => conn.pause(),
    resume: () => conn.resume(),
  };
}
