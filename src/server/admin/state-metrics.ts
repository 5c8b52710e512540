// What the daemon holds now, for Prometheus: gauges (and counters the server already keeps) read
// from the server when scraped, by prom-client's collect callbacks. Nothing is kept up to date on the
// message path for them. docs/operations.md lists every metric.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { LinkState } from '../federation/peer-link.ts';
import type { HandlerState } from '../handlers/supervisor.ts';
import type { SessionState } from '../session/session.ts';

export interface StateSource {
  /** The kinds of the listeners opened (each kind at most once, so a kind names a listener). */
  listeners(): readonly string[];
  /** Each open session: the kind of listener it came in on, and its state. */
  connections(): Iterable<{ readonly listener: string; readonly state: SessionState }>;
  /** Users with at least one client connection. */
  usersOnline(): number;
  handlerStatus(): ReadonlyArray<{ readonly type: string; readonly state: HandlerState; readonly restarts: number; readonly inFlight: number }>;
  /** Deliveries kept for offline users (docs/protocol.md §4.3.1); null when offline delivery is off. */
  offlineWaiting(): number | null;
  /** As Federation.status(): link state and outbox depth per peer key, the federation's own counters. */
  federationStatus(): {
    readonly links: Readonly<Record<string, string>>;
    readonly waiting: Readonly<Record<string, number>>;
    readonly counters: Readonly<Record<string, number>>;
  };
  /** Whether `peer` is a configured peer; other outbox keys (unlisted targets, the original's way) are `unlisted`. */
  knownPeer(peer: string): boolean;
}

/** The peer label for outbox keys that are no configured peer (federation.allowUnlistedTargets). */
export const UNLISTED_PEER = 'unlisted';

/** Session states shown even when no connection is in them (the short-lived `closed` only when seen). */
const SESSION_STATES: readonly SessionState[] = ['awaitingFirst', 'authenticating', 'client', 'server', 'peer', 'closing'];
const HANDLER_STATES: readonly HandlerState[] = ['external', 'starting', 'ready', 'backoff', 'failed', 'stopping', 'stopped'];
const LINK_STATES: readonly LinkState[] = ['idle', 'connecting', 'up', 'backoff', 'closed'];

/** Registers the gauges on `registry`; they read `source` on every scrape. */
export function collectState(registry: Registry, source: StateSource): void {
  const registers = [registry];
  const peerLabel = (key: string): string => (source.knownPeer(key) ? key : UNLISTED_PEER);

  const connections: Gauge<'listener' | 'state'> = new Gauge({
    name: 'bester_connections',
    help: 'Open connections, by listener (its kind: tcp4, tcp6, unix) and session state.',
    labelNames: ['listener', 'state'],
    registers,
    collect: () => {
      const counts = new Map<string, Map<string, number>>();
      for (const listener of source.listeners()) counts.set(listener, new Map(SESSION_STATES.map((state) => [state, 0])));
      for (const { listener, state } of source.connections()) {
        const byState = counts.get(listener) ?? new Map<string, number>();
        counts.set(listener, byState);
        byState.set(state, (byState.get(state) ?? 0) + 1);
      }
      connections.reset();
      for (const [listener, byState] of counts) for (const [state, n] of byState) connections.set({ listener, state }, n);
    },
  });
  const users: Gauge = new Gauge({
    name: 'bester_users_online',
    help: 'Users with at least one client connection.',
    registers,
    collect: () => users.set(source.usersOnline()),
  });

  const inFlight: Gauge<'type'> = new Gauge({
    name: 'bester_handler_calls_in_flight',
    help: 'Calls to each handler in progress now (capped by handlers.typeMap.T.maxInFlight).',
    labelNames: ['type'],
    registers,
    collect: () => {
      inFlight.reset();
      for (const handler of source.handlerStatus()) inFlight.set({ type: handler.type }, handler.inFlight);
    },
  });
  const handlerState: Gauge<'type' | 'state'> = new Gauge({
    name: 'bester_handler_state',
    help: "Each handler's state: 1 for the state it is in, 0 for the others.",
    labelNames: ['type', 'state'],
    registers,
    collect: () => {
      handlerState.reset();
      for (const handler of source.handlerStatus()) {
        for (const state of HANDLER_STATES) handlerState.set({ type: handler.type, state }, handler.state === state ? 1 : 0);
      }
    },
  });
  const restarts: Counter<'type'> = new Counter({
    name: 'bester_handler_restarts_total',
    help: 'Start attempts of each started handler after its first (restarts after an exit or a failed start).',
    labelNames: ['type'],
    registers,
    collect: () => {
      restarts.reset();
      for (const handler of source.handlerStatus()) restarts.inc({ type: handler.type }, handler.restarts);
    },
  });

  const offline: Gauge = new Gauge({
    name: 'bester_offline_messages',
    help: 'Deliveries kept for users who are offline (docs/protocol.md §4.3.1), waiting for their next login.',
    registers,
    collect: () => offline.set(source.offlineWaiting() ?? 0),
  });

  const outbox: Gauge<'peer'> = new Gauge({
    name: 'bester_federation_outbox_messages',
    help: 'Messages waiting in the federation outbox, by peer (configured peers, else "unlisted").',
    labelNames: ['peer'],
    registers,
    collect: () => {
      outbox.reset();
      const { waiting } = source.federationStatus();
      for (const [key, n] of Object.entries(waiting)) outbox.inc({ peer: peerLabel(key) }, n);
    },
  });
  const links: Gauge<'peer' | 'state'> = new Gauge({
    name: 'bester_federation_links',
    help: 'Outbound federation links by peer and state: 1 for the state a configured peer\'s link is in, 0 for the others; "unlisted" counts links to unlisted targets.',
    labelNames: ['peer', 'state'],
    registers,
    collect: () => {
      links.reset();
      for (const [key, current] of Object.entries(source.federationStatus().links)) {
        const peer = peerLabel(key);
        for (const state of LINK_STATES) links.inc({ peer, state }, current === state ? 1 : 0);
      }
    },
  });
  const federationEvents: Counter<'event'> = new Counter({
    name: 'bester_federation_events_total',
    help: "The federation's own counters (serverInfo federation.counters): queued, acknowledged, expired, refusals by code; inbound_*: frames from peers dropped or refused.",
    labelNames: ['event'],
    registers,
    collect: () => {
      federationEvents.reset();
      for (const [event, n] of Object.entries(source.federationStatus().counters)) federationEvents.inc({ event }, n);
    },
  });
}
