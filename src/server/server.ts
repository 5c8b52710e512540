// The daemon assembled: `await startServer(config)` returns a listening server; `close()` is
// idempotent and waits for listeners, connections, handler processes and the store (STYLE.md #12).
import type { Duplex } from 'node:stream';
import { openAccountStore, type AccountStore } from './accounts/account-store.ts';
import type { ServerConfig } from './config/types.ts';
import type { AdminListener } from './admin/admin-listener.ts';
import { HandlerPool, type HandlerProtocolStatus } from './handlers/handler-pool.ts';
import { HandlerSupervisor, type HandlerStatus } from './handlers/supervisor.ts';
import { startInformer, type Informer } from './informer/informer.ts';
import { silentLogger, type Logger } from './log.ts';
import type { Federation } from './federation/federation.ts';
import { setupFederation } from './federation/setup.ts';
import { CatchUp } from './offline/catch-up.ts';
import { openOfflineDelivery, type OfflineDelivery } from './offline/offline-delivery.ts';
import { Router } from './routing/router.ts';
import { ClusterNode, type ClusterOptions } from './presence/cluster-node.ts';
import { openRedisCluster, type RedisCluster } from './redis/cluster-stores.ts';
import type { OfflineQueue } from './storage/offline-queue.ts';
import { SessionRegistry } from './session/registry.ts';
import { Session, type SessionContext } from './session/session.ts';
import { addressKey, ConnectionGate, refuseConnection } from './session/connection-gate.ts';
import { PendingLogins } from './session/pending-logins.ts';
import { LoginThrottle } from './session/login-throttle.ts';
import { Login } from './session/login.ts';
import { ServerEvents } from './events.ts';
import { logEvents } from './event-log.ts';
import { Stats } from './stats.ts';
import { serverScopeAcceptor } from './federation/server-scope.ts';
import { plainTextWarnings } from './config/coherence.ts';
import { startListener, type Listener, type ListenerOptions, type PeerInfo } from './transport/listener.ts';
import { handlerEnvironment, makeSocketFolders } from './handlers/environment.ts';
import { loadAdminModules } from './admin/modules.ts';
import { Reloader, type ReloadResult } from './reload.ts';
import packageJson from '../../package.json' with { type: 'json' };

export interface StartOptions {
  readonly logger?: Logger;
  /** Use this store instead of opening the one the config names (tests, embedding). Not closed by the server. */
  readonly accounts?: AccountStore;
  /** Keep offline deliveries in this queue instead of the daemon's SQLite file (tests, embedding). Not closed by the server. */
  readonly offlineQueue?: OfflineQueue;
  /**
   * Run as one node of a server made of several daemons sharing a presence and a delivery bus
   * (docs/architecture.md): users connected to other nodes are reached through the bus. Not closed by the server.
   */
  readonly cluster?: ClusterOptions;
  /** The log level was set on the command line (besterd --log-level): a reload does not change it. */
  readonly logLevelFixed?: boolean;
}

export interface BesterServer {
  /** The configuration in force: the one started with, or the last one a reload applied. */
  readonly config: ServerConfig;
  readonly listeners: readonly Listener[];
  readonly registry: SessionRegistry<Session>;
  readonly startedAt: Date;
  /** The informer's socket (docs/protocol.md §9), or null when config.informer.enabled is false. */
  readonly informerPath: string | null;
  /**
   * Each handler's process state, its calls in progress now (`inFlight`, capped by maxInFlight), and
   * what the daemon speaks with it (`protocol`, over `connections` open multiplex/1 connections).
   */
  handlerStatus(): Array<HandlerStatus & { readonly inFlight: number } & HandlerProtocolStatus>;
  readonly federation: Federation;
  /** The core's events (docs/architecture.md): connections, logins, messages, handler calls, deliveries, peer links. */
  readonly events: ServerEvents;
  /** The admin HTTP listener (/metrics, /healthz, /readyz: docs/operations.md), or null when config.adminHttp is null. */
  readonly admin: Pick<AdminListener, 'url' | 'port'> | null;
  /**
   * Stops gracefully: stops accepting, answers new messages `shutting_down`, lets handler calls in
   * progress finish within config.shutdown.graceMs (then cancels them), tells every connection
   * `shutting_down` and closes it, stops handler processes, closes the stores, removes the socket
   * files. Idempotent.
   */
  close(): Promise<void>;
  /**
   * Ends the grace period of a close() now (a second SIGTERM or SIGINT): handler calls still in
   * progress are cancelled and answered `shutting_down`; the rest of the close goes on as usual.
   * Does nothing before close().
   */
  hurry(): void;
  /**
   * Makes any stream a session, as the listeners do with what they accept (the transport seam):
   * the connection caps apply, and a refused stream is told why (docs/protocol.md §2.5).
   */
  handle(stream: Duplex, peer: PeerInfo): void;
  /**
   * Reloads the configuration (docs/operations.md, "Reloading the configuration"): from `next`, or
   * else from the file it was loaded from. Never rejects; a config with errors is refused and the
   * running one kept. Sessions stay connected.
   */
  reload(next?: ServerConfig): Promise<ReloadResult>;
  /** Restarts the handler process of `type` now; false when the daemon does not run one of that type. */
  restartHandler(type: string): Promise<boolean>;
}

export async function startServer(config: ServerConfig, options: StartOptions = {}): Promise<BesterServer> {
  const logger = options.logger ?? silentLogger();
  const ownsStore = options.accounts === undefined;
  const accounts = options.accounts ?? (await openAccountStore(config.accounts, logger.child({ component: 'accounts' })));
  const shutdown = new AbortController();
  const events = new ServerEvents((err, name) => logger.error({ err, event: name }, 'an event listener failed'));
  const stats = new Stats();
  stats.listen(events);
  logEvents(events, logger);
  const registry = new SessionRegistry<Session>();
  const sessions = new Set<Session>();
  const supervisor = new HandlerSupervisor({
    handlers: config.handlers,
    supervision: config.supervision,
    cwd: config.baseDir,
    logger: logger.child({ component: 'handlers' }),
    env: handlerEnvironment(config),
  });
  let fed: Awaited<ReturnType<typeof setupFederation>>;
  try {
    fed = await setupFederation({
      config,
      registry,
      logger: logger.child({ component: 'federation' }),
      dispatch: (type, data, context) => router.dispatch(type, data, context),
      events,
    });
  } catch (err) {
    if (ownsStore) await accounts.close();
    throw err;
  }
  // docs/protocol.md §4.3.1: deliveries kept for known users who are offline (null when disabled).
  let offline: OfflineDelivery | null;
  try {
    const queue = options.offlineQueue ? { queue: options.offlineQueue } : {};
    offline = await openOfflineDelivery({ config, accounts, registry, logger: logger.child({ component: 'offline' }), events, ...queue });
  } catch (err) {
    await fed.close();
    if (ownsStore) await accounts.close();
    throw err;
  }
  // docs/architecture.md: one node of several, when the embedder gives a shared presence and bus,
  // or the config names a Redis database and a node id (docs/scaling.md; closed with the server).
  let cluster: ClusterNode | null = null;
  let redisCluster: RedisCluster | null = null;
  try {
    redisCluster = options.cluster ? null : await openRedisCluster(config.accounts, logger, config.limits.loginFailures);
    const clusterOptions = options.cluster ?? redisCluster?.options;
    // docs/scaling.md "Back from a cut": what was kept for users who stayed connected here, flushed to them.
    const catchUp = (o: OfflineDelivery) => new CatchUp({ offline: o, sessionsOf: (user) => registry.connectionsOf(user), logger: logger.child({ component: 'offline' }) });
    if (clusterOptions) cluster = await ClusterNode.join(clusterOptions, { events, registry, logger: logger.child({ component: 'cluster' }), ...(offline ? { offline, catchUp: catchUp(offline) } : {}) });
  } catch (err) {
    await redisCluster?.close();
    await fed.close();
    await offline?.close();
    if (ownsStore) await accounts.close();
    throw err;
  }
  // docs/protocol.md §4.5: what each handler speaks is learned per handler process (its pid).
  const handlerPool = new HandlerPool({
    processOf: (type) => {
      const status = supervisor.statusOf(type);
      return status?.managed === true ? status.pid : undefined;
    },
  });
  const router: Router = new Router({
    handlers: config.handlers,
    limits: config.limits,
    registry,
    logger: logger.child({ component: 'router' }),
    signal: shutdown.signal,
    federation: fed.federation,
    ...(offline ? { offline } : {}),
    callHandler: (handler, data, callOptions, receiver) => handlerPool.send(handler, data, callOptions, receiver),
    events,
    ...(cluster ? { remote: cluster } : {}),
  });
  // docs/protocol.md §9.4.3 (serverInfo `handlers`): the same for server.handlerStatus() and the informer.
  const handlerStatus = (): Array<HandlerStatus & { readonly inFlight: number } & HandlerProtocolStatus> =>
    supervisor.status().map((status) => {
      const handler = reloader.config.handlers.get(status.type);
      const use = handler ? handlerPool.describe(handler) : { protocol: 'unknown' as const, connections: 0 };
      return { ...status, inFlight: router.inFlight(status.type), ...use };
    });
  const sessionLogger = logger.child({ component: 'session' });
  const throttle = redisCluster?.throttle ?? new LoginThrottle({ limits: config.limits.loginFailures });
  const login = new Login({ accounts, registry, maxSessionsPerUser: config.limits.maxSessionsPerUser, checks: config.limits.loginChecks, throttle });
  const serverScope = serverScopeAcceptor({
    federation: fed.federation,
    limits: config.limits,
    logger: logger.child({ component: 'federation' }),
    dispatch: (type, data, context) => router.dispatch(type, data, context),
  });
  const gate = new ConnectionGate(config.limits);
  const pending = new PendingLogins<Session>(config.limits.maxUnauthenticated);
  const reloader = new Reloader(config, {
    logger,
    logLevelFixed: options.logLevelFixed === true,
    events,
    router,
    supervisor,
    pool: handlerPool,
    federation: fed.federation,
    limitsChanged: (limits) => {
      gate.reconfigure(limits);
      pending.resize(limits.maxUnauthenticated);
      throttle.reconfigure(limits.loginFailures);
      login.reconfigure({ maxSessionsPerUser: limits.maxSessionsPerUser, checks: limits.loginChecks });
      for (const session of sessions) session.limitsChanged();
    },
    listeners: () => listeners,
  });
  const listenerOf = new WeakMap<Session, string>(); // for the metrics: connections by listener kind
  let sessionsOpened = 0;
  // One context for every session: what a connection holds of its own stays small (docs/performance.md, idle connections).
  const sessionContext: SessionContext = {
    get config() {
      return reloader.config;
    },
    accounts,
    registry,
    router,
    logger: sessionLogger,
    login,
    serverScope,
    ...(offline ? { offline } : {}),
    onClosed: (s) => sessions.delete(s),
    events,
    throttle,
    gate,
    pending,
  };
  /** Any stream becomes a session (the transport seam): listeners call this, and so can embedders and tests. */
  const handle = (stream: Duplex, peer: PeerInfo): void => {
    stream.on('error', () => undefined); // the session adds its own; this covers the gap before it
    const { remote } = peer;
    // docs/protocol.md §2.5: the caps are checked before anything is read from the connection.
    const address = addressKey(peer.remoteAddress ?? undefined);
    let refusal = gate.admit(address, sessions.size);
    if (refusal === null && !pending.makeRoom()) {
      gate.loggedInOrGone(address);
      refusal = `too many connections are logging in (limits.maxUnauthenticated = ${reloader.config.limits.maxUnauthenticated}), try again later`;
    }
    if (refusal !== null) {
      events.emit('connection.refused', { transport: peer.transport, remote, code: 'too_many_connections', reason: refusal });
      refuseConnection(stream, refusal);
      return;
    }
    const session = new Session(stream, peer, sessionContext, ++sessionsOpened, address);
    sessions.add(session);
    listenerOf.set(session, peer.transport);
  };
  // §5.3: dead peers are found by the OS too, also for clients that do not answer pings (TCP keepalive).
  // A TLS handshake counts against the login deadline's time; one that fails is refused with its reason.
  // §5.3 over WebSocket: WebSocket pings at the same rhythm; §1.5: messages measured against the larger frame limit.
  const listenerOptions: ListenerOptions = {
    keepAliveMs: config.liveness.pingIntervalMs,
    handshakeTimeoutMs: config.limits.loginTimeoutMs,
    onHandshakeError: (f) => events.emit('connection.refused', { ...f, code: 'tls_handshake_failed' }),
    pingIntervalMs: config.liveness.pingIntervalMs,
    maxMissedPings: config.liveness.maxMissedPings,
    maxFrameBytes: Math.max(config.limits.maxFrameBytes, config.limits.maxLoginFrameBytes),
    refused: (refusal) => events.emit('transport.refused', refusal),
  };

  const listeners: Listener[] = [];
  const startedAt = new Date();
  let informer: Informer | null = null;
  // docs/operations.md, "Metrics and health": counting starts before the listeners open. The
  // modules (and prom-client) are loaded only when the admin listener is on: a daemon without it
  // does not carry them (docs/performance.md, idle connections).
  const adminModules = config.adminHttp === null ? null : await loadAdminModules();
  const metrics = adminModules === null ? null : new adminModules.ServerMetrics({
    events,
    handlerTypes: [...config.handlers.keys()],
    knownType: (type) => reloader.config.handlers.has(type),
    knownPeer: (peer) => reloader.config.federation.peers.has(peer),
    listeners: () => listeners.map((l) => l.kind),
    connections: () => [...sessions].map((s) => ({ listener: listenerOf.get(s) ?? 'unknown', state: s.state })),
    usersOnline: () => registry.users().length,
    handlerStatus,
    offlineWaiting: () => offline?.waiting() ?? null,
    federationStatus: () => fed.federation.status(),
  });
  let admin: AdminListener | null = null;
  try {
    await makeSocketFolders(config.handlers.values());
    // The informer first, so that handlers can query it as soon as they start.
    if (config.informer.enabled) {
      informer = await startInformer({
        registry,
        get config() {
          return reloader.config;
        },
        listeners: () => listeners,
        handlerStatus,
        federationStatus: () => fed.federation.status(),
        cluster: options.cluster ?? redisCluster?.options,
        offlineStatus: () => ({ stored: offline?.waiting() ?? 0 }),
        closeCounts: () => stats.closes.snapshot(),
        activityCounts: () => stats.activity(),
        startedAt,
        version: packageJson.version,
        logger: logger.child({ component: 'informer' }),
        reload: () => reloader.reload(),
        restartHandler: (type) => reloader.restartHandler(type),
      });
    }
    await supervisor.start();
    for (const warning of plainTextWarnings(config)) logger.warn(warning);
    for (const listenerConfig of config.listeners) {
      const listener = await startListener(listenerConfig, handle, listenerOptions);
      listeners.push(listener);
      logger.info({ address: listener.address, ...(listener.url === undefined ? {} : { url: listener.url }) }, 'listening');
    }
    if (config.adminHttp !== null && metrics !== null && adminModules !== null) {
      const { startAdminListener, checkReadiness } = adminModules;
      const node = cluster; // self-fencing (docs/scaling.md): not ready while cut off from Redis
      const stores = { accounts: () => accounts.has('readyz'), ...(offline ? { offline: () => offline.queueWaiting() } : {}), ...(node ? { cluster: () => node.check() } : {}) };
      admin = await startAdminListener({
        config: config.adminHttp,
        metrics,
        readiness: () =>
          checkReadiness({ listenersUp: () => closing === null && listeners.length === config.listeners.length, handlerStatus, stores }),
        logger: logger.child({ component: 'admin' }),
      });
    }
  } catch (err) {
    metrics?.stop();
    handlerPool.close();
    await Promise.all(listeners.map((l) => l.close()));
    await informer?.close();
    await supervisor.stop();
    await cluster?.leave();
    await redisCluster?.close();
    await fed.close();
    await offline?.close();
    if (ownsStore) await accounts.close();
    throw err;
  }

  let closing: Promise<void> | null = null;
  const hurried = Promise.withResolvers<false>();
  const close = async (): Promise<void> => {
    const { graceMs } = reloader.config.shutdown;
    logger.info({ graceMs, inProgress: router.activeDispatches }, 'shutting down');
    // Listeners first: nothing new connects. Each resolves once its connections are gone.
    const listenersClosed = Promise.all(listeners.map((l) => l.close()));
    // New messages are answered shutting_down; calls in progress get the grace period to finish
    // and answer their senders. The informer stays up meanwhile: those handlers may query it.
    if (!(await Promise.race([router.drain(graceMs), hurried.promise]))) {
      logger.warn({ inProgress: router.activeDispatches, graceMs }, 'grace period over: cancelling handler calls in progress');
      shutdown.abort();
      await router.idle(1000);
    }
    await new Promise((resolve) => setImmediate(resolve)); // the last status reports are queued
    for (const session of sessions) session.shutdown();
    await informer?.close();
    await admin?.close();
    metrics?.stop();
    await listenersClosed;
    await waitForSessions(sessions, 3000);
    handlerPool.close();
    await supervisor.stop();
    await cluster?.leave();
    await redisCluster?.close();
    await fed.close();
    await offline?.close();
    if (ownsStore) await accounts.close();
    logger.info('stopped');
  };

  return {
    get config() {
      return reloader.config;
    },
    listeners,
    registry,
    startedAt,
    informerPath: informer?.path ?? null,
    handlerStatus,
    federation: fed.federation,
    events,
    admin: admin === null ? null : { url: admin.url, port: admin.port },
    close: () => (closing ??= close()),
    hurry: () => {
      if (closing !== null) hurried.resolve(false);
    },
    handle,
    reload: (next) => reloader.reload(next),
    restartHandler: (type) => reloader.restartHandler(type),
  };
}

async function waitForSessions(sessions: Set<Session>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (sessions.size > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
}
