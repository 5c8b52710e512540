// The core's events (docs/architecture.md "Events", STYLE.md #10): the message path says what
// happened; the log, the counters in serverInfo and the metrics (src/server/admin/) listen. Emitting is cheap
// when nobody listens, and a listener that throws never breaks the path that emitted.
import type { ErrorCode } from '../protocol/errors.ts';
import type { CloseReason } from './session/close-counters.ts';

export type LoginOutcome = 'ok' | 'failed' | 'throttled' | 'busy' | 'refused' | 'error';

export interface ServerEventMap {
  /** A stream became a session (docs/protocol.md §2). */
  'connection.opened': { readonly id: number; readonly transport: string; readonly remote: string };
  /** A stream was refused before anything was read from it (§2.5 connection caps). */
  'connection.refused': { readonly transport: string; readonly remote: string; readonly code: ErrorCode; readonly reason: string };
  /** A connection was refused by its transport before it became a stream (a WebSocket upgrade from an origin not allowed). */
  'transport.refused': { readonly transport: string; readonly remote: string; readonly reason: string };
  /** A session ended; `reason` is the code it was told, or why it ended without one. */
  'connection.closed': { readonly id: number; readonly reason: CloseReason; readonly user: string | null; readonly loggedIn: boolean };
  /** A login was decided (§2.2–§2.5): `refused` is a valid login over a per-user cap, `error` a store failure. */
  'login': { readonly id: number; readonly outcome: LoginOutcome; readonly user: string | null; readonly remote: string; readonly code?: ErrorCode };
  /** A client message was answered (§3.3): `outcome` is `good` or the code of its bad report. */
  'message.handled': { readonly type: string; readonly outcome: 'good' | ErrorCode; readonly ms: number };
  /** One handler call ended: `code` null when it answered (the answer may still be refused by the planner). */
  'handler.called': { readonly type: string; readonly code: ErrorCode | null; readonly ms: number };
  /**
   * A sendClients result was carried out: `queued` recipients had it queued on their connections here,
   * `kept` were offline and got it kept for their next login (§4.3.1), `undelivered` neither.
   */
  'delivery': { readonly type: string; readonly queued: number; readonly kept: number; readonly undelivered: number };
  /** Kept deliveries passed their TTL and were removed (§4.3.1). */
  'delivery.expired': { readonly count: number };
  /**
   * A reload of the configuration ended (docs/operations.md): `applied` and `restartNeeded` list
   * config keys; `refused` means the new config had errors (`errors`) and the running one was kept.
   */
  'config.reload': {
    readonly outcome: 'applied' | 'refused' | 'failed';
    readonly applied: readonly string[];
    readonly restartNeeded: readonly string[];
    readonly errors: readonly string[];
  };
  /** A federation link to a peer changed state (docs/federation.md §8). */
  'peer.link': { readonly peer: string; readonly state: string };
}

export type ServerEventName = keyof ServerEventMap;
export type ServerEventListener<K extends ServerEventName> = (event: ServerEventMap[K]) => void;

type Listeners = { [K in ServerEventName]?: Array<ServerEventListener<K>> };

export class ServerEvents {
  readonly #listeners: Listeners = {};
  readonly #onListenerError: (err: unknown, name: ServerEventName) => void;

  /** `onListenerError` hears what a listener threw (the daemon logs it); the emitter goes on. */
  constructor(onListenerError: (err: unknown, name: ServerEventName) => void = () => undefined) {
    this.#onListenerError = onListenerError;
  }

  /** Adds a listener; returns the function that removes it. */
  on<K extends ServerEventName>(name: K, listener: ServerEventListener<K>): () => void {
    const list = (this.#listeners[name] ??= []) as Array<ServerEventListener<K>>;
    list.push(listener);
    return () => {
      const at = list.indexOf(listener);
      if (at !== -1) list.splice(at, 1);
    };
  }

  /** Whether anybody listens: build an event only then on hot paths. */
  has(name: ServerEventName): boolean {
    const list = this.#listeners[name];
    return list !== undefined && list.length > 0;
  }

  emit<K extends ServerEventName>(name: K, event: ServerEventMap[K]): void {
    const list = this.#listeners[name];
    if (list === undefined) return;
    for (const listener of list) {
      try {
        listener(event);
      } catch (err) {
        this.#onListenerError(err, name);
      }
    }
  }
}
