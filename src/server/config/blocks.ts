// The smaller blocks: database (the account store: SQLite or Redis), admin, and our limits, supervision,
// federation, offline and log blocks (docs/configuration.md).
import path from 'node:path';
import {
  DEFAULT_ADMIN_HTTP,
  DEFAULT_CLUSTER_TIMING,
  DEFAULT_LIMITS,
  DEFAULT_LIVENESS,
  DEFAULT_LOG,
  DEFAULT_OFFLINE,
  DEFAULT_REDIS_ADDRESS,
  DEFAULT_REDIS_PORT,
  DEFAULT_REDIS_PREFIX,
  DEFAULT_SHUTDOWN,
  DEFAULT_SQLITE_PATH,
  DEFAULT_SUPERVISION,
  LOG_LEVELS,
} from './defaults.ts';
import { parsePort } from './network.ts';
import { parseRedisTopology } from './redis-topology.ts';
import type {
  AccountsConfig,
  AdminHttpConfig,
  ClusterTiming,
  HandlerSupervisionConfig,
  LimitsConfig,
  LivenessConfig,
  LogConfig,
  OfflineConfig,
  RedisAccountsConfig,
  ShutdownConfig,
} from './types.ts';
import { type Checker, describe, isObject, keyPath, own } from './validate.ts';

export function parseDatabase(c: Checker, value: unknown): AccountsConfig {
  const fallback: AccountsConfig = { kind: 'sqlite', path: path.resolve(c.baseDir, DEFAULT_SQLITE_PATH) };
  const database = c.block(value, 'database');
  if (database === undefined) return fallback;
  c.unknownKeys(database, 'database', ['type', 'sqlite', 'redis']);
  const type = own(database, 'type');
  if (type === 'redis') return parseRedis(c, own(database, 'redis')) ?? fallback;
  if (type !== undefined && type !== 'sqlite') {
    c.error('database.type', `must be "sqlite" or "redis", got ${describe(type)}`);
    return fallback;
  }
  const sqlite = c.block(own(database, 'sqlite'), 'database.sqlite');
  if (sqlite === undefined) return fallback;
  c.unknownKeys(sqlite, 'database.sqlite', ['path']);
  const file = own(sqlite, 'path');
  if (file === undefined) return fallback;
  return { kind: 'sqlite', path: c.filePath(file, 'database.sqlite.path') ?? fallback.path };
}

/**
 * database.redis (docs/scaling.md): the original's {"address", "port"} as it wrote them (the port
 * a string of digits or a number), or a "url" (redis:// or rediss://); an optional key "prefix"
 * and "nodeId" (this daemon as one node of several, docs/scaling.md).
 * Null after an error.
 */
function parseRedis(c: Checker, value: unknown): RedisAccountsConfig | null {
  const redis = c.block(value, 'database.redis');
  if (redis === undefined) {
    c.error('database.redis', 'required when database.type is "redis": {"address": …, "port": …} or {"url": "redis://…"}');
    return null;
  }
  c.unknownKeys(redis, 'database.redis', ['address', 'port', 'url', 'prefix', 'nodeId', 'heartbeatMs', 'expiryMs', 'ackTimeoutMs', 'cluster', 'sentinel']);
  const nodeId = parseNodeId(c, own(redis, 'nodeId'));
  const timing = parseTiming(c, redis);
  const rawPrefix = own(redis, 'prefix');
  const prefix = rawPrefix === undefined ? DEFAULT_REDIS_PREFIX : c.text(rawPrefix, 'database.redis.prefix');
  const { topology, url: topologyUrl } = parseRedisTopology(c, redis);
  if (topologyUrl !== null) return prefix === undefined || nodeId === undefined ? null : { kind: 'redis', url: topologyUrl, prefix, nodeId, timing, ...topology };
  const rawUrl = own(redis, 'url');
  let url: string | undefined;
  if (rawUrl !== undefined) {
    if (own(redis, 'address') !== undefined || own(redis, 'port') !== undefined) {
      c.error('database.redis.url', 'give either "url" or "address" and "port", not both');
      return null;
    }
    url = c.text(rawUrl, 'database.redis.url', 'a redis:// or rediss:// URL');
    if (url !== undefined && !/^rediss?:\/\/[^\s]+$/.test(url)) {
      c.error('database.redis.url', `must be a redis:// or rediss:// URL, got ${describe(url)}`);
      url = undefined;
    }
  } else {
    const address = own(redis, 'address') === undefined ? DEFAULT_REDIS_ADDRESS : c.text(own(redis, 'address'), 'database.redis.address', 'a host name or IP address');
    const rawPort = own(redis, 'port');
    const port = rawPort === undefined ? DEFAULT_REDIS_PORT : parsePort(c, rawPort, 'database.redis.port');
    if (port === 0) c.error('database.redis.port', 'must be the port Redis listens on (1-65535), got 0');
    if (address !== undefined) url = `redis://${address.includes(':') ? `[${address}]` : address}:${port}`;
  }
  if (url === undefined || prefix === undefined || nodeId === undefined) return null;
  return { kind: 'redis', url, prefix, nodeId, timing, ...topology };
}

/**
 * database.redis heartbeatMs, expiryMs, ackTimeoutMs (docs/scaling.md "Tuning"). expiryMs must be
 * more than twice heartbeatMs (one late heartbeat must not make a live node dead), and ackTimeoutMs
 * more than expiryMs plus a heartbeat: a publisher still waits when a survivor re-routes what a
 * dead node left, so the survivor's acknowledgement, not a timeout, ends the wait.
 */
function parseTiming(c: Checker, redis: Record<string, unknown>): ClusterTiming {
  const d = DEFAULT_CLUSTER_TIMING;
  const heartbeatMs = c.integer(own(redis, 'heartbeatMs'), 'database.redis.heartbeatMs', d.heartbeatMs, 50, 60_000);
  const expiryMs = c.integer(own(redis, 'expiryMs'), 'database.redis.expiryMs', Math.max(d.expiryMs, 5 * heartbeatMs), 100, 600_000);
  const ackTimeoutMs = c.integer(own(redis, 'ackTimeoutMs'), 'database.redis.ackTimeoutMs', Math.max(d.ackTimeoutMs, 2 * expiryMs), 100, 3_600_000);
  if (expiryMs <= 2 * heartbeatMs) {
    c.error('database.redis.expiryMs', `must be more than twice heartbeatMs (${heartbeatMs}), got ${expiryMs}`);
  } else if (ackTimeoutMs <= expiryMs + heartbeatMs) {
    c.error('database.redis.ackTimeoutMs', `must be more than expiryMs + heartbeatMs (${expiryMs + heartbeatMs}), got ${ackTimeoutMs}`);
  }
  return Object.freeze({ heartbeatMs, expiryMs, ackTimeoutMs });
}

/** database.redis.nodeId: a name other nodes see in presence and on the bus; null when absent. */
function parseNodeId(c: Checker, value: unknown): string | null | undefined {
  if (value === undefined) return null;
  const text = c.text(value, 'database.redis.nodeId', 'a node name (letters, digits, ".", "_", "-"; at most 64)');
  if (text === undefined) return undefined;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(text)) {
    c.error('database.redis.nodeId', `must be letters, digits, ".", "_" or "-" (at most 64), got ${describe(text)}`);
    return undefined;
  }
  return text;
}

/** admin.info, any JSON, copied so that no object from the input is kept. */
export function parseAdminInfo(c: Checker, value: unknown): unknown {
  const admin = c.block(value, 'admin');
  if (admin === undefined) return null;
  c.unknownKeys(admin, 'admin', ['info', 'http']);
  const info = own(admin, 'info');
  if (info === undefined) return null;
  try {
    // JSON.parse creates own data properties only, so a "__proto__" key stays a plain key.
    return JSON.parse(JSON.stringify(info)) as unknown;
  } catch (err) {
    c.error('admin.info', `must be JSON data (${err instanceof Error ? err.message : String(err)})`);
    return null;
  }
}

/**
 * Ours: admin.http, the HTTP listener for metrics and health (docs/operations.md). Its presence turns
 * it on; parseAdminInfo reports an `admin` that is not an object.
 */
export function parseAdminHttp(c: Checker, admin: unknown): AdminHttpConfig | null {
  if (!isObject(admin)) return null;
  const block = c.block(own(admin, 'http'), 'admin.http');
  if (block === undefined) return null;
  c.unknownKeys(block, 'admin.http', ['address', 'port']);
  const address = own(block, 'address');
  const port = own(block, 'port');
  return {
    host: address === undefined ? DEFAULT_ADMIN_HTTP.host : (c.text(address, 'admin.http.address', 'a host name or IP address') ?? DEFAULT_ADMIN_HTTP.host),
    port: port === undefined ? DEFAULT_ADMIN_HTTP.port : parsePort(c, port, 'admin.http.port'),
  };
}

/** Positive integers, each with its default; used for the limits and supervision blocks. */
function integerBlock<T extends Record<string, number>>(
  c: Checker,
  value: unknown,
  key: string,
  defaults: T,
  /** Keys of the block that are read elsewhere (nested blocks). */
  nested: readonly string[] = [],
): T {
  const block = c.block(value, key);
  if (block === undefined) return { ...defaults };
  const names = Object.keys(defaults);
  c.unknownKeys(block, key, [...names, ...nested]);
  const result: Record<string, number> = {};
  for (const name of names) {
    result[name] = c.integer(own(block, name), keyPath(key, name), defaults[name] ?? 1);
  }
  return result as T;
}

export function parseLimits(c: Checker, value: unknown): LimitsConfig {
  const { loginFailures, loginChecks, ...numbers } = DEFAULT_LIMITS;
  const limits = integerBlock(c, value, 'limits', numbers, ['loginFailures', 'loginChecks']);
  // §2.5: the share of maxConnections that may wait for a login follows maxConnections unless set.
  if (!isObject(value) || own(value, 'maxUnauthenticated') === undefined) limits.maxUnauthenticated = Math.max(Math.min(limits.maxConnections, 100), Math.floor(limits.maxConnections / 5));
  const failures = isObject(value) ? own(value, 'loginFailures') : undefined;
  const checks = isObject(value) ? own(value, 'loginChecks') : undefined;
  return {
    ...limits,
    loginFailures: integerBlock(c, failures, 'limits.loginFailures', { ...loginFailures }),
    loginChecks: integerBlock(c, checks, 'limits.loginChecks', { ...loginChecks }),
  };
}

/** Ours: the built-in ping and TCP keepalive (docs/protocol.md §5.3). */
export function parseLiveness(c: Checker, value: unknown): LivenessConfig {
  const block = c.block(value, 'liveness');
  if (block === undefined) return { ...DEFAULT_LIVENESS };
  c.unknownKeys(block, 'liveness', ['pingIntervalMs', 'maxMissedPings', 'pingLegacyClients']);
  return {
    pingIntervalMs: c.integer(own(block, 'pingIntervalMs'), 'liveness.pingIntervalMs', DEFAULT_LIVENESS.pingIntervalMs),
    maxMissedPings: c.integer(own(block, 'maxMissedPings'), 'liveness.maxMissedPings', DEFAULT_LIVENESS.maxMissedPings),
    pingLegacyClients: c.boolean(own(block, 'pingLegacyClients'), 'liveness.pingLegacyClients', DEFAULT_LIVENESS.pingLegacyClients),
  };
}

export function parseSupervision(c: Checker, value: unknown): HandlerSupervisionConfig {
  const supervision = integerBlock(c, value, 'supervision', { ...DEFAULT_SUPERVISION });
  if (supervision.restartDelayMs > supervision.maxRestartDelayMs) {
    c.error(
      'supervision.restartDelayMs',
      `must not exceed supervision.maxRestartDelayMs (${supervision.maxRestartDelayMs}), got ${supervision.restartDelayMs}`,
    );
  }
  return supervision;
}

/** Ours: deliveries kept for offline users (docs/protocol.md §4.3.1). */
export function parseOffline(c: Checker, value: unknown): OfflineConfig {
  const block = c.block(value, 'offline');
  if (block === undefined) return { ...DEFAULT_OFFLINE };
  c.unknownKeys(block, 'offline', ['enabled', 'maxPerUser', 'maxBytesPerUser', 'maxBytes', 'ttlMs']);
  return {
    enabled: c.boolean(own(block, 'enabled'), 'offline.enabled', DEFAULT_OFFLINE.enabled),
    maxPerUser: c.integer(own(block, 'maxPerUser'), 'offline.maxPerUser', DEFAULT_OFFLINE.maxPerUser),
    maxBytesPerUser: c.integer(own(block, 'maxBytesPerUser'), 'offline.maxBytesPerUser', DEFAULT_OFFLINE.maxBytesPerUser),
    maxBytes: c.integer(own(block, 'maxBytes'), 'offline.maxBytes', DEFAULT_OFFLINE.maxBytes),
    ttlMs: c.integer(own(block, 'ttlMs'), 'offline.ttlMs', DEFAULT_OFFLINE.ttlMs),
  };
}
/** Ours: how long a stopping daemon lets handler calls in progress finish. */
export function parseShutdown(c: Checker, value: unknown): ShutdownConfig {
  return integerBlock(c, value, 'shutdown', { ...DEFAULT_SHUTDOWN });
}

export function parseLog(c: Checker, value: unknown): LogConfig {
  const block = c.block(value, 'log');
  if (block === undefined) return { ...DEFAULT_LOG };
  c.unknownKeys(block, 'log', ['level']);
  return { level: c.oneOf(own(block, 'level'), 'log.level', LOG_LEVELS, DEFAULT_LOG.level) };
}
