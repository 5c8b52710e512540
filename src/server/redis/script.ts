// A Lua script run by EVALSHA, loaded with EVAL when Redis does not know it yet (after a restart).
// Scripts make each store operation atomic in Redis (one slot: keys.ts).
import { createHash } from 'node:crypto';
import type { RedisClient } from './client.ts';

export class LuaScript {
  readonly #source: string;
  readonly #sha: string;

  constructor(source: string) {
    this.#source = source;
    this.#sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: RedisClient, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    const tail = [String(keys.length), ...keys, ...args.map(String)];
    try {
      return await client.sendCommand(['EVALSHA', this.#sha, ...tail]);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return client.sendCommand(['EVAL', this.#source, ...tail]);
    }
  }
}
