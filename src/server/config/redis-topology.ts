// database.redis.cluster and database.redis.sentinel (docs/configuration.md, docs/scaling.md): a
// Redis Cluster named by some of its masters, or a master found through Sentinel. Either replaces
// "url" / "address" and "port".
import { readFileSync } from 'node:fs';
import type { SentinelConfig } from './types.ts';
import { type Checker, describe, isObject, keyPath, own, type RawObject } from './validate.ts';

export interface RedisTopology {
  /** redis://host:port of some masters of a Redis Cluster. */
  readonly cluster?: readonly string[];
  readonly sentinel?: SentinelConfig;
}

const SENTINEL_KEYS = ['name', 'nodes', 'username', 'password', 'passwordFile', 'sentinelPassword', 'sentinelPasswordFile'];

/** `password` or `passwordFile` (its first line; relative to the config's folder) of `block`; undefined when neither. */
function secret(c: Checker, block: RawObject, key: string, name: string): string | undefined {
  const inline = own(block, name);
  const file = own(block, `${name}File`);
  if (inline !== undefined && file !== undefined) {
    c.error(keyPath(key, name), `give "${name}" or "${name}File", not both`);
    return undefined;
  }
  if (inline !== undefined) return c.text(inline, keyPath(key, name), 'a string');
  if (file === undefined) return undefined;
  const fileKey = keyPath(key, `${name}File`);
  const path = c.filePath(file, fileKey);
  if (path === undefined) return undefined;
  try {
    const text = readFileSync(path, 'utf8').trim();
    if (text === '' || /[\r\n]/.test(text)) {
      c.error(fileKey, `${path} must hold the password on one line`);
      return undefined;
    }
    return text;
  } catch (err) {
    c.error(fileKey, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    return undefined;
  }
}

const HOST_PORT = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]/]+)):(\d{1,5})$/;

function hostPort(c: Checker, value: unknown, key: string): { host: string; port: number } | null {
  const match = typeof value === 'string' ? HOST_PORT.exec(value) : null;
  const port = match ? Number(match[3]) : 0;
  if (!match || port < 1 || port > 65535) {
    c.error(key, `must be "host:port" or "[v6]:port", got ${describe(value)}`);
    return null;
  }
  return { host: match[1] ?? match[2]!, port };
}

function list(c: Checker, value: unknown, key: string): Array<{ host: string; port: number }> {
  if (!Array.isArray(value) || value.length === 0) {
    c.error(key, `must be a non-empty list of "host:port", got ${describe(value)}`);
    return [];
  }
  return value.map((v, i) => hostPort(c, v, keyPath(key, i))).filter((n): n is { host: string; port: number } => n !== null);
}

/** The topology keys of database.redis, checked; `url` is then the first node's (for messages and the first probe). */
export function parseRedisTopology(c: Checker, redis: RawObject): { topology: RedisTopology; url: string | null } {
  const cluster = own(redis, 'cluster');
  const sentinel = own(redis, 'sentinel');
  if (cluster === undefined && sentinel === undefined) return { topology: {}, url: null };
  for (const k of ['url', 'address', 'port']) {
    if (own(redis, k) !== undefined) c.error(`database.redis.${k}`, 'give "cluster" or "sentinel" instead of a single server, not both');
  }
  const urlOf = (n: { host: string; port: number }): string => `redis://${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.port}`;
  if (cluster !== undefined) {
    if (sentinel !== undefined) c.error('database.redis.sentinel', 'give "cluster" or "sentinel", not both');
    const nodes = list(c, cluster, 'database.redis.cluster');
    return { topology: { cluster: nodes.map(urlOf) }, url: nodes[0] ? urlOf(nodes[0]) : null };
  }
  if (!isObject(sentinel)) {
    c.error('database.redis.sentinel', `must be {"name": "…", "nodes": ["host:port", …]}, got ${describe(sentinel)}`);
    return { topology: {}, url: null };
  }
  const key = 'database.redis.sentinel';
  c.unknownKeys(sentinel, key, SENTINEL_KEYS);
  const name = c.text(own(sentinel, 'name'), `${key}.name`, "the master's name as the sentinels know it");
  const nodes = list(c, own(sentinel, 'nodes'), `${key}.nodes`);
  const username = own(sentinel, 'username') === undefined ? undefined : c.text(own(sentinel, 'username'), `${key}.username`, 'an ACL user name');
  const password = secret(c, sentinel, key, 'password');
  const sentinelPassword = secret(c, sentinel, key, 'sentinelPassword');
  if (username !== undefined && password === undefined) c.error(`${key}.username`, 'needs "password" or "passwordFile"');
  if (name === undefined) return { topology: {}, url: null };
  const found: SentinelConfig = {
    name,
    nodes,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(sentinelPassword === undefined ? {} : { sentinelPassword }),
  };
  return { topology: { sentinel: found }, url: nodes[0] ? urlOf(nodes[0]) : null };
}
