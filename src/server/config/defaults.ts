// Every configuration default, in one place (STYLE.md #11). docs/configuration.md lists them too.
import type {
  AdminHttpConfig,
  FederationConfig,
  HandlerSupervisionConfig,
  LimitsConfig,
  LivenessConfig,
  LogConfig,
  OfflineConfig,
  ShutdownConfig,
} from './types.ts';

export const DEFAULT_UNIX_MODE = 0o600;
export const DEFAULT_TCP4_HOST = '0.0.0.0';
export const DEFAULT_TCP6_HOST = '::';
/** network.ws (docs/configuration.md): loopback unless the config names another address. */
export const DEFAULT_WS_HOST = '127.0.0.1';
export const DEFAULT_WS_PATH = '/bester';
export const DEFAULT_HANDLER_TIMEOUT_MS = 10_000;
/** Calls to one handler in progress at once (handlers.typeMap.T.maxInFlight). */
export const DEFAULT_HANDLER_MAX_IN_FLIGHT = 256;
/** handlers.typeMap.T.connections (docs/protocol.md §4.5.3): multiplex/1 connections kept per handler. */
export const DEFAULT_HANDLER_CONNECTIONS = 2;
export const MAX_HANDLER_CONNECTIONS = 64;
/** Relative to the config file's folder. */
export const DEFAULT_SQLITE_PATH = 'bester.db';
/** database.redis when it leaves them out (docs/scaling.md). */
export const DEFAULT_REDIS_ADDRESS = '127.0.0.1';
export const DEFAULT_REDIS_PORT = 6379;
export const DEFAULT_REDIS_PREFIX = 'bester:';
/** database.redis heartbeatMs, expiryMs, ackTimeoutMs: the cluster's timing (docs/scaling.md "Tuning"). */
export const DEFAULT_CLUSTER_TIMING = Object.freeze({ heartbeatMs: 1000, expiryMs: 5000, ackTimeoutMs: 10_000 });

export const DEFAULT_LIMITS: LimitsConfig = Object.freeze({
  maxFrameBytes: 262_144,
  maxLoginFrameBytes: 8192,
  maxHandlerFrameBytes: 1_048_576,
  loginTimeoutMs: 10_000,
  maxHandlerHops: 16,
  maxJsonDepth: 64,
  maxConnections: 10_000,
  maxUnauthenticatedPerAddress: 20,
  maxUnauthenticated: 2000,
  maxSessionsPerUser: 32,
  maxOutboundBytes: 8_388_608,
  writeStallMs: 10_000,
  pipelineDepth: 16,
  loginFailures: Object.freeze({ maxPerAddress: 10, maxPerUser: 10, windowMs: 600_000, blockMs: 600_000 }),
  loginChecks: Object.freeze({ maxRunning: 4, maxWaiting: 64, maxPerAddress: 16 }),
});

export const DEFAULT_LIVENESS: LivenessConfig = Object.freeze({
  pingIntervalMs: 60_000,
  maxMissedPings: 2,
  pingLegacyClients: false,
});

export const DEFAULT_SUPERVISION: HandlerSupervisionConfig = Object.freeze({
  startTimeoutMs: 10_000,
  restartDelayMs: 500,
  maxRestartDelayMs: 30_000,
  stopTimeoutMs: 5000,
});

export const DEFAULT_FEDERATION: FederationConfig = Object.freeze({
  acceptUnauthenticatedServers: false,
  nodeId: null,
  peers: new Map(),
  allowUnlistedTargets: false,
  maxHops: 8,
  heartbeatMs: 15_000,
  maxInFlight: 64,
  outboxTtlMs: 86_400_000,
  outboxCap: 10_000,
  ackWaitMs: 1000,
  connectTimeoutMs: 5000,
  reconnectDelayMs: 250,
  maxReconnectDelayMs: 30_000,
});

/** Shared secrets shorter than this are refused: they would be guessable. */
export const MIN_PEER_SECRET_LENGTH = 16;

/** The informer's socket file name, put beside the daemon's other sockets (docs/configuration.md, "informer"). */
export const DEFAULT_INFORMER_FILE = 'informer.sock';

export const DEFAULT_INFORMER = Object.freeze({
  enabled: true,
  mode: 0o600,
  allowSendClients: true,
  allowControl: true,
});

export const DEFAULT_OFFLINE: OfflineConfig = Object.freeze({
  enabled: true,
  maxPerUser: 1000,
  maxBytesPerUser: 4_194_304,
  maxBytes: 67_108_864,
  ttlMs: 604_800_000,
});

export const DEFAULT_SHUTDOWN: ShutdownConfig = Object.freeze({ graceMs: 10_000 });

/** admin.http when its block is present (the listener is off without it): loopback only. */
export const DEFAULT_ADMIN_HTTP: AdminHttpConfig = Object.freeze({ host: '127.0.0.1', port: 9220 });

export const DEFAULT_LOG: LogConfig = Object.freeze({ level: 'info' });

export const LOG_LEVELS: readonly LogConfig['level'][] = Object.freeze([
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
]);
