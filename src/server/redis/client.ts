// One connection to Redis for the Redis stores (docs/scaling.md): node-redis with reconnection
// and backoff, an 'error' listener from the start (STYLE.md #9), and the data-set marker: a key
// holding this data set's id, written when the data set is new and checked at every (re)connect,
// so a Redis that came back empty (no persistence, a failover to an empty replica) is reported
// instead of being taken silently as a server with no users.
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { BesterError } from '../../protocol/errors.ts';
import { silentLogger, type Logger } from '../log.ts';
import { RedisKeys } from './keys.ts';
import { redactUrl } from './url.ts';
import { newClusterClient, newSentinelClient, probeSentinels, probeServer, type RedisSentinelTarget } from './topology.ts';

/** RESP2, pinned: the scripts' and commands' replies are read as RESP2 arrays and strings. */
function createResp2Client(options: Parameters<typeof createClient>[0] & object) {
  return createClient({ ...options, RESP: 2 });
}

export type RedisClient = ReturnType<typeof createResp2Client>;

export interface RedisTarget {
  /** redis://[user:password@]host:port[/db] */
  readonly url: string;
  /** Prefix of every key Bester writes (several Bester servers can share one Redis). */
  readonly prefix: string;
  /** A Redis Cluster: redis://host:port of some masters (topology.ts); `url` is then the first. */
  readonly cluster?: readonly string[] | null;
  /** Redis behind Sentinel (topology.ts); `url` then names the first sentinel, for messages. */
  readonly sentinel?: RedisSentinelTarget['sentinel'] | null;
}

/** Waits between reconnection attempts: 100 ms doubling to 5 s, with jitter so nodes do not stampede. */
export function reconnectDelay(retries: number): number {
  const base = Math.min(5000, 100 * 2 ** Math.min(retries, 6));
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/** A new client for `target`, not yet connected; every failure goes to the logger, never unhandled. */
export function newRedisClient(target: RedisTarget, logger: Logger, name: string): RedisClient {
  const topology = { name, connectTimeout: 5000, reconnectStrategy: reconnectDelay };
  const client = target.cluster ? newClusterClient({ cluster: target.cluster }, topology)
    : target.sentinel ? newSentinelClient({ sentinel: target.sentinel }, topology)
    : createResp2Client({ url: target.url, name: `bester-${name}`, socket: { connectTimeout: 5000, reconnectStrategy: reconnectDelay } });
  let down = false;
  client.on('error', (err: unknown) => {
    if (!down) logger.warn({ err, redis: redactUrl(target.url), connection: name }, 'redis: connection lost, reconnecting');
    down = true;
  });
  client.on('ready', () => {
    if (down) logger.info({ redis: redactUrl(target.url), connection: name }, 'redis: connection restored');
    down = false;
  });
  return client;
}

/** A connected client; rejects with store_error (naming the server) when Redis cannot be reached. */
export async function connectRedis(target: RedisTarget, logger: Logger, name: string): Promise<RedisClient> {
  const client = newRedisClient(target, logger, name);
  try {
    // A first connection that fails fast: a wrong address or password is a configuration error, not a retry loop.
    if (target.sentinel) await probeSentinels(target.sentinel);
    else await probeServer(target.url);
    await client.connect();
  } catch (err) {
    if (client.isOpen) client.destroy();
    throw new BesterError('store_error', `cannot connect to Redis at ${redactUrl(target.url)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return client;
}

interface MasterChange {
  readonly type?: string;
  readonly node?: { readonly host: string; readonly port: number };
}

/**
 * Calls `listener` with the new master ("host:port") at each master change of a client behind
 * Sentinel (a failover, or SENTINEL FAILOVER; docs/scaling.md "At a Sentinel failover"): once per
 * change, though node-redis reports the same master again while it reconnects to it. Hook it once
 * the client is connected (its first master is not a change). Nothing happens for other clients.
 */
export function onMasterChange(client: RedisClient, logger: Logger, listener: (master: string) => void): void {
  const first = (client as unknown as { getMasterNode?: () => MasterChange['node'] }).getMasterNode?.();
  let last = first === undefined ? null : `${first.host}:${first.port}`;
  client.on('topology-change', (event: MasterChange) => {
    if (event.type !== 'MASTER_CHANGE' || event.node === undefined) return;
    const master = `${event.node.host}:${event.node.port}`;
    if (master === last) return;
    last = master;
    try {
      listener(master);
    } catch (err) {
      logger.error({ err, master }, 'redis: a master-change listener failed (bug: please report)');
    }
  });
}

/**
 * The data-set marker (docs/scaling.md "Redis lost its data"): checked now and after each
 * reconnect. A missing marker at the first check is a new data set (logged); a missing marker after
 * it was seen means Redis lost its data: logged as an error and `onLost` is called; the marker is
 * then written again so the loss is reported once.
 */
export class DataSetMarker {
  readonly #client: RedisClient;
  readonly #key: string;
  readonly #logger: Logger;
  readonly #onLost: (seen: string) => void;
  #seen: string | null = null;

  constructor(client: RedisClient, keys: RedisKeys, logger: Logger = silentLogger(), onLost: (seen: string) => void = () => undefined) {
    this.#client = client;
    this.#key = keys.marker();
    this.#logger = logger;
    this.#onLost = onLost;
    client.on('ready', () => {
      this.check().catch((err: unknown) => logger.warn({ err }, 'redis: could not check the data-set marker'));
    });
  }

  /** The data set's id once checked. */
  get id(): string | null {
    return this.#seen;
  }

  async check(): Promise<string> {
    const fresh = `bester-${randomBytes(8).toString('hex')}`;
    // SET NX GET: one command writes the marker if it is missing and says what was there.
    const before = await this.#client.sendCommand<string | null>(['SET', this.#key, fresh, 'NX', 'GET']);
    const now = before ?? fresh;
    if (before === null && this.#seen === null) {
      this.#logger.warn({ dataSet: now, key: this.#key }, 'redis: no Bester data set in this Redis; a new one was started (expected only on first use)');
    } else if (before === null || (this.#seen !== null && before !== this.#seen)) {
      this.#logger.error({ seen: this.#seen, now, key: this.#key },
        'redis: the Redis data set was lost or replaced (Redis restarted without its data, or failed over to an empty replica); accounts, kept messages and presence may be gone');
      if (this.#seen !== null) this.#onLost(this.#seen);
    }
    this.#seen = now;
    return now;
  }
}
