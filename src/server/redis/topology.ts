// Redis Cluster and Sentinel behind the one client shape the stores use (client.ts RedisClient),
// docs/scaling.md "Redis Cluster and Sentinel". node-redis's cluster and sentinel clients have the
// same typed commands (get, hGet, zRangeByScore, publish, subscribe, duplicate, close...) but a
// different raw `sendCommand`: the cluster one routes by a first key, the sentinel one takes a
// read-only flag. The adapter below gives them the standalone `sendCommand(args)`, finding the key
// the way Redis does for the few raw commands the stores send. Every multi-key script keeps its keys
// in one hash tag (keys.ts), so a script runs on the one master owning that slot.
import { createClient, createCluster, createSentinel } from 'redis';
import type { SentinelConfig } from '../config/types.ts';
import type { RedisClient } from './client.ts';

export interface RedisClusterTarget {
  /** redis://host:port of some of the cluster's masters (the rest are discovered). */
  readonly cluster: readonly string[];
}

export interface RedisSentinelTarget {
  /** The master's name as the sentinels know it, some of the sentinels, and the passwords, if any. */
  readonly sentinel: SentinelConfig;
}

type Args = readonly string[];

/** The key a raw command acts on (the first one), as Redis Cluster routes it; undefined when none. */
export function firstKey(args: Args): string | undefined {
  const command = (args[0] ?? '').toUpperCase();
  if (command === 'EVAL' || command === 'EVALSHA') return Number(args[2] ?? 0) > 0 ? args[3] : undefined;
  if (command === 'XREADGROUP' || command === 'XREAD') {
    const at = args.findIndex((a) => a.toUpperCase() === 'STREAMS');
    return at < 0 ? undefined : args[at + 1];
  }
  if (command === 'XGROUP' || command === 'XINFO') return args[2];
  if (command === 'CLIENT' || command === 'INFO' || command === 'PING' || command === 'CLUSTER') return undefined;
  return args[1];
}

/** Read-only raw commands (may go to a replica when node-redis is told it can). */
function readOnly(args: Args): boolean {
  return ['GET', 'HSCAN', 'SSCAN', 'ZSCAN'].includes((args[0] ?? '').toUpperCase());
}

type Raw = (args: Args) => Promise<unknown>;

/** `inner` with the standalone sendCommand; its duplicates adapted the same way. */
function adapt(inner: object, send: (inner: never, args: Args) => Promise<unknown>): RedisClient {
  const proxy: RedisClient = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'sendCommand') return ((args: Args) => send(target as never, args)) satisfies Raw;
      if (prop === 'duplicate') {
        return (...rest: unknown[]) => adapt((target as { duplicate: (...a: unknown[]) => object }).duplicate(...rest), send);
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as unknown as RedisClient;
  return proxy;
}

export interface TopologyOptions {
  readonly name: string;
  readonly connectTimeout: number;
  readonly reconnectStrategy: (retries: number) => number;
}

/** A client for a Redis Cluster, not yet connected (RESP2, as the standalone one). */
export function newClusterClient(target: RedisClusterTarget, options: TopologyOptions): RedisClient {
  const cluster = createCluster({
    rootNodes: target.cluster.map((url) => ({ url })),
    defaults: { name: `bester-${options.name}`, socket: { connectTimeout: options.connectTimeout, reconnectStrategy: options.reconnectStrategy } },
    RESP: 2,
  });
  type Cluster = typeof cluster;
  return adapt(cluster, (c: Cluster, args) => c.sendCommand(firstKey(args), readOnly(args), [...args]));
}

/**
 * A client for the master a set of Sentinels names, not yet connected. node-redis asks the Sentinels
 * again and reconnects to the new master at a failover (docs/scaling.md "At a Sentinel failover").
 */
export function newSentinelClient(target: RedisSentinelTarget, options: TopologyOptions): RedisClient {
  const { name, nodes, sentinelPassword } = target.sentinel;
  const socket = { connectTimeout: options.connectTimeout, reconnectStrategy: options.reconnectStrategy };
  const sentinel = createSentinel({
    name,
    sentinelRootNodes: nodes.map((n) => ({ host: n.host, port: n.port })),
    nodeClientOptions: { name: `bester-${options.name}`, socket, ...masterLogin(target.sentinel) },
    ...(sentinelPassword === undefined ? {} : { sentinelClientOptions: { password: sentinelPassword, socket } }),
    // One master connection kept for this client's commands: without it node-redis leases its pool
    // per command and runs two commands sent in the same tick out of order (a presence ADD after
    // the REMOVE sent after it, an acknowledgement before an earlier one), which the stores rely on.
    reserveClient: true,
    RESP: 2,
  });
  type Sentinel = typeof sentinel;
  return adapt(sentinel, (s: Sentinel, args) => s.sendCommand(false, [...args]));
}

/** The ACL user and password for the master and its replicas, those that are set. */
function masterLogin({ username, password }: SentinelConfig): { username?: string; password?: string } {
  return { ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) };
}

/** `step` on a connection of its own that fails fast (no reconnection), then closed. */
async function probe<T>(options: Parameters<typeof createClient>[0] & object, step: (c: ReturnType<typeof createClient>) => Promise<T>): Promise<T> {
  const client = createClient({ ...options, socket: { ...options.socket, connectTimeout: 5000, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await step(client);
  } finally {
    client.destroy();
  }
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Before a client for one server or a Redis Cluster is made (it would retry without end): one
 * connection to `url`, so that a wrong address or password is reported at once. Rejects with why.
 */
export function probeServer(url: string): Promise<void> {
  return probe({ url }, () => Promise.resolve());
}

/**
 * Before the Sentinel client is made (it retries without end and reports only "None of the
 * sentinels are available"): asks each Sentinel for the master, then logs in to that master, with
 * the configured passwords. Resolves when one Sentinel names a master that accepts us; else
 * rejects with what each said (a wrong password, an unknown master name, no answer).
 */
export async function probeSentinels(target: RedisSentinelTarget['sentinel']): Promise<void> {
  const problems: string[] = [];
  const auth = target.sentinelPassword === undefined ? {} : { password: target.sentinelPassword };
  for (const node of target.nodes) {
    const where = `Sentinel ${node.host}:${node.port}`;
    let answer: unknown;
    try {
      answer = await probe({ socket: { host: node.host, port: node.port }, ...auth }, (c) => c.sendCommand(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', target.name]));
    } catch (err) {
      problems.push(`${where}: ${messageOf(err)}`);
      continue;
    }
    if (!Array.isArray(answer) || answer.length !== 2) {
      problems.push(`${where}: knows no master named "${target.name}"`);
      continue;
    }
    const [host, port] = answer.map(String) as [string, string];
    try {
      await probe({ socket: { host, port: Number(port) }, ...masterLogin(target) }, (c) => c.ping());
      return;
    } catch (err) {
      problems.push(`${where} names the master ${host}:${port}, which answered: ${messageOf(err)}`);
    }
  }
  throw new Error(problems.join('; '));
}
