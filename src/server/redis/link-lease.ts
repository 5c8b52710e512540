// The lease on each peer's outbound link (federation/link-ownership.ts, docs/scaling.md
// "Federation from a cluster"): per peer a key holding `owner:token` with an expiry (SET NX PX),
// renewed only by the owner with the same token, and a counter that gives every new holder a
// larger fencing token. Both keys are in the outbox's slot (keys.ts). A node announces a message
// queued for a peer on one pub/sub channel; the holder's subscriber kicks that link (the holder
// also looks at the outbox after every renewal, so a lost announcement only delays).
import type { Logger } from '../log.ts';
import type { LinkLease } from '../federation/link-ownership.ts';
import type { RedisClient } from './client.ts';
import { RedisKeys } from './keys.ts';
import { LuaScript } from './script.ts';

// KEYS: lease, token counter. ARGV: owner, token held (0: none), lease ms. Returns the token held now, or 0.
const HOLD = new LuaScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  if cur == ARGV[1] .. ':' .. ARGV[2] then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return tonumber(ARGV[2])
  end
  return 0
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[3])
return token`);

// KEYS: lease. ARGV: owner:token. Deletes the lease only if it is still that one.
const RELEASE = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0`);

export interface RedisLinkLeaseOptions {
  readonly client: RedisClient;
  readonly prefix: string;
  /** This daemon's run: the node id and a random part (a restarted node is a new owner). */
  readonly owner: string;
  readonly leaseMs: number;
  readonly logger: Logger;
}

export class RedisLinkLease implements LinkLease {
  readonly #o: RedisLinkLeaseOptions;
  readonly #keys: RedisKeys;
  readonly #channel: string;
  #subscriber: RedisClient | null = null;

  constructor(options: RedisLinkLeaseOptions) {
    this.#o = options;
    this.#keys = new RedisKeys(options.prefix);
    this.#channel = this.#keys.outboxAnnounce();
  }

  async hold(peer: string, token: number | null): Promise<number | null> {
    const k = this.#keys;
    const reply = await HOLD.run(this.#o.client, [k.outboxPeer(peer, 'lease'), k.outboxPeer(peer, 'leaseToken')], [this.#o.owner, token ?? 0, this.#o.leaseMs]);
    const held = Number(reply);
    return held > 0 ? held : null;
  }

  async release(peer: string, token: number): Promise<void> {
    await RELEASE.run(this.#o.client, [this.#keys.outboxPeer(peer, 'lease')], [`${this.#o.owner}:${token}`]);
  }

  async announce(peer: string): Promise<void> {
    await this.#o.client.publish(this.#channel, peer);
  }

  async listen(kick: (peer: string) => void): Promise<void> {
    // Pub/sub needs a connection of its own; node-redis subscribes again after a reconnect.
    const subscriber = this.#o.client.duplicate();
    subscriber.on('error', (err: unknown) => this.#o.logger.debug({ err }, 'redis: lease announcements connection error'));
    await subscriber.connect();
    this.#subscriber = subscriber;
    await subscriber.subscribe(this.#channel, (peer: string) => kick(peer));
  }

  async close(): Promise<void> {
    const subscriber = this.#subscriber;
    this.#subscriber = null;
    if (subscriber?.isOpen === true) await subscriber.close();
  }
}
