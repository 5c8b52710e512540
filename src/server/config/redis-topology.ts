// database.redis.cluster and database.redis.sentinel (docs/configuration.md, docs/scaling.md): a
// Redis Cluster named by some of its masters, or a master found through Sentinel. Either replaces
// "url" / "address" and "port".
import { type Checker, describe, isObject, keyPath, own, type RawObject } from './validate.ts';

export interface RedisTopology {
  /** redis://host:port of some masters of a Redis Cluster. */
  readonly cluster?: readonly string[];
  readonly sentinel?: { readonly name: string; readonly nodes: ReadonlyArray<{ readonly host: string; readonly port: number }> };
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
  c.unknownKeys(sentinel, 'database.redis.sentinel', ['name', 'nodes']);
  const name = c.text(own(sentinel, 'name'), 'database.redis.sentinel.name', "the master's name as the sentinels know it");
  const nodes = list(c, own(sentinel, 'nodes'), 'database.redis.sentinel.nodes');
  if (name === undefined) return { topology: {}, url: null };
  return { topology: { sentinel: { name, nodes } }, url: nodes[0] ? urlOf(nodes[0]) : null };
}
