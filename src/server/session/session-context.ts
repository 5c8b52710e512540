// What a session is given by the server that made it (session.ts): the shared parts of the
// daemon it works with, each optional where a test or an embedder may leave it out.
import type { AccountStore } from '../accounts/account-store.ts';
import type { ServerConfig } from '../config/types.ts';
import type { ServerEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { OfflineDelivery } from '../offline/offline-delivery.ts';
import type { Router } from '../routing/router.ts';
import type { CloseCounters } from './close-counters.ts';
import type { ConnectionGate } from './connection-gate.ts';
import type { ServerScopeAcceptor } from './first-frame.ts';
import type { Login } from './login.ts';
import type { FailedLoginThrottle } from './login-throttle.ts';
import type { PendingLogins } from './pending-logins.ts';
import type { SessionRegistry } from './registry.ts';
import type { Session } from './session.ts';

export type SessionState = 'awaitingFirst' | 'authenticating' | 'client' | 'server' | 'peer' | 'closing' | 'closed';

export interface SessionContext {
  readonly config: ServerConfig;
  readonly accounts: AccountStore;
  readonly registry: SessionRegistry<Session>;
  readonly router: Router;
  readonly logger: Logger;
  /** The login step shared by the server's sessions; absent: one is made from the fields here. */
  readonly login?: Login;
  /** Takes over server-scope connections (legacy messages, peer links); absent: they are refused. */
  readonly serverScope?: ServerScopeAcceptor;
  /** Writes the deliveries kept while the user was offline at each login (§4.3.1); absent: none are kept. */
  readonly offline?: Pick<OfflineDelivery, 'flush'>;
  /** Called once when the connection is gone. */
  readonly onClosed: (session: Session) => void;
  /** The core's events (docs/architecture.md); absent: none are emitted. */
  readonly events?: ServerEvents;
  /** Counts why each connection ended; when `events` is absent (embedders, tests). */
  readonly closes?: CloseCounters;
  /** Failed logins per address and per username (§2.5); absent: not throttled. */
  readonly throttle?: FailedLoginThrottle;
  /** Counted this connection as not logged in yet under its address (§2.5); told once that ends. */
  readonly gate?: ConnectionGate;
  /** Connections not logged in yet, on all listeners (§2.5): this one joins at once and leaves once. */
  readonly pending?: PendingLogins<Session>;
}
