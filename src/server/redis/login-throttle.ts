// The failed-login throttle (session/login-throttle.ts, docs/protocol.md §2.5) shared by the nodes
// of a cluster (docs/scaling.md): per address and per username a sorted set of failure times and a
// block key that expires with the block, so a guesser spreading attempts over the nodes meets the
// same windows and block times as on one daemon. Every key expires by itself (no sweeping). The
// checks are scripts (atomic across nodes); the keys share the {throttle} hash tag (one slot).
// When Redis cannot answer, the node falls back to its own count (kept in memory alongside), so a
// Redis outage never opens the door wider than one daemon alone would.
import { randomBytes } from 'node:crypto';
import type { LoginFailureLimits } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { within } from '../within.ts';
import { LoginThrottle, type FailedLoginThrottle, type ThrottleRefusal } from '../session/login-throttle.ts';
import type { RedisClient } from './client.ts';
import { RedisKeys } from './keys.ts';
import { LuaScript } from './script.ts';
import { closeClient } from './store-base.ts';

// KEYS: failures, blocked. ARGV: now, windowMs, max, blockMs. Milliseconds until allowed, 0 now.
const CHECK = new LuaScript(`
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then return ttl end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[4])
redis.call('DEL', KEYS[1])
return tonumber(ARGV[4])`);

// KEYS: failures. ARGV: now, windowMs, max, member. Never more than max failures kept.
const RECORD = new LuaScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`);

// KEYS: failures, blocked. A blocked key serves its block; otherwise its failures are forgotten.
const CLEAR = new LuaScript(`
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('DEL', KEYS[1]) end
return 1`);

const ANSWER_WITHIN_MS = 1000;

export interface RedisLoginThrottleOptions {
  readonly client: RedisClient;
  readonly prefix: string;
  readonly limits: LoginFailureLimits;
  readonly logger: Logger;
  /** Close the client with the throttle. */
  readonly ownsClient?: boolean;
  readonly now?: () => number;
}

export class RedisLoginThrottle implements FailedLoginThrottle {
  readonly #o: RedisLoginThrottleOptions;
  readonly #keys: RedisKeys;
  readonly #local: LoginThrottle;
  #limits: LoginFailureLimits;
  #warned = false;

  constructor(options: RedisLoginThrottleOptions) {
    this.#o = options;
    this.#keys = new RedisKeys(options.prefix);
    this.#limits = options.limits;
    this.#local = new LoginThrottle({ limits: options.limits, ...(options.now ? { now: options.now } : {}) });
  }

  reconfigure(limits: LoginFailureLimits): void {
    this.#limits = limits;
    this.#local.reconfigure(limits);
  }

  failuresOf(address: string | null): number {
    return this.#local.failuresOf(address);
  }

  async check(address: string | null, user: string | null): Promise<ThrottleRefusal | null> {
    const now = this.#now();
    const l = this.#limits;
    try {
      if (address !== null) {
        const ms = Number(await this.#run(CHECK, this.#pair('address', address), [now, l.windowMs, l.maxPerAddress, l.blockMs]));
        if (ms > 0) return { by: 'address', retryAfterMs: ms };
      }
      if (user !== null) {
        const ms = Number(await this.#run(CHECK, this.#pair('user', user), [now, l.windowMs, l.maxPerUser, l.blockMs]));
        if (ms > 0) return { by: 'user', retryAfterMs: ms };
      }
      this.#warned = false;
      return null;
    } catch (err) {
      this.#unreachable(err);
      return this.#local.check(address, user);
    }
  }

  async failed(address: string | null, user: string | null): Promise<void> {
    this.#local.failed(address, user);
    const now = this.#now();
    const l = this.#limits;
    const member = `${now}-${randomBytes(4).toString('hex')}`;
    try {
      if (address !== null) await this.#run(RECORD, [this.#keys.throttle('address', 'failures', address)], [now, l.windowMs, l.maxPerAddress, member]);
      if (user !== null) await this.#run(RECORD, [this.#keys.throttle('user', 'failures', user)], [now, l.windowMs, l.maxPerUser, member]);
    } catch (err) {
      this.#unreachable(err);
    }
  }

  async succeeded(user: string): Promise<void> {
    this.#local.succeeded(user);
    try {
      await this.#run(CLEAR, this.#pair('user', user), []);
    } catch (err) {
      this.#unreachable(err);
    }
  }

  async close(): Promise<void> {
    if (this.#o.ownsClient === true) await closeClient(this.#o.client);
  }

  /** One script, or a rejection after ANSWER_WITHIN_MS: a login does not wait for a Redis that does not answer. */
  #run(script: LuaScript, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    return within(script.run(this.#o.client, keys, args), ANSWER_WITHIN_MS, () => new Error(`Redis did not answer within ${ANSWER_WITHIN_MS} ms`));
  }

  #pair(kind: 'address' | 'user', name: string): string[] {
    return [this.#keys.throttle(kind, 'failures', name), this.#keys.throttle(kind, 'blocked', name)];
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  #unreachable(err: unknown): void {
    if (this.#warned) return;
    this.#warned = true; // once per outage: a check that reaches Redis again resets it
    this.#o.logger.warn({ err }, 'login throttle: Redis unreachable; counting failed logins on this node only');
  }
}
