// besterd processes as nodes of one server on Redis (docs/scaling.md), started as the redis-*.test.ts
// integration tests start them: a temp dir, a config whose database.redis block is the one given
// plus the node's id, one TCP listener on port 0, the fake handler; their JSON logs kept. Also the
// users a test needs, added through the Redis account store, and a delivery read with a deadline.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { RedisAccountStore } from '../../src/server/redis/account-store.ts';
import { connectRedis, type RedisTarget } from '../../src/server/redis/client.ts';
import { silentLogger } from '../../src/server/log.ts';
import { rawConfig, ROOT, tempDir, writeTestConfig } from './daemon.ts';
import { spawnBesterd, type BesterdProcess } from './besterd-process.ts';
import { loggedIn, type RawClient } from './raw-client.ts';

export interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

export interface RedisNode {
  readonly id: string;
  /** The TCP listener's port. */
  readonly port: number;
  readonly proc: BesterdProcess;
}

/** Nodes started with one database.redis block; stop() ends them all. */
export class RedisNodes {
  readonly #redis: Record<string, unknown>;
  readonly #dirs: string[] = [];
  readonly #procs: BesterdProcess[] = [];

  /** `redis`: database.redis without nodeId (url, cluster or sentinel, timing...). */
  constructor(redis: Record<string, unknown>) {
    this.#redis = redis;
  }

  async start(id: string): Promise<RedisNode> {
    const dir = tempDir();
    this.#dirs.push(dir);
    const raw = rawConfig(dir, {
      handlers: { fake: {} },
      listeners: ['tcp4'],
      extra: { database: { type: 'redis', redis: { ...this.#redis, nodeId: id } } },
    });
    const proc = spawnBesterd(process.execPath, [path.join(ROOT, 'src/cli/besterd.ts'), writeTestConfig(dir, raw)], 30_000);
    this.#procs.push(proc);
    const { port } = await proc.started;
    return { id, port: port!, proc };
  }

  /** SIGTERM to every node (SIGKILL after 10 s), then their dirs removed. */
  async stop(): Promise<void> {
    await Promise.all(this.#procs.splice(0).map(async (proc) => {
      proc.child.kill('SIGTERM');
      const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
      await proc.exited;
      clearTimeout(timer);
    }));
    for (const dir of this.#dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

/** Adds `names` (password "<name>-pw") through the Redis account store. */
export async function addRedisUsers(target: RedisTarget, names: readonly string[]): Promise<void> {
  const client = await connectRedis(target, silentLogger(), 'test');
  const store = new RedisAccountStore({ client, prefix: target.prefix, ownsClient: true });
  try {
    for (const name of names) if (!(await store.has(name))) await store.add(name, `${name}-pw`);
  } finally {
    await store.close();
  }
}

/** Logs `user` in on `node`; asserts the answer is good. */
export async function loginOn(node: RedisNode, user: string): Promise<RawClient> {
  const { client, answer } = await loggedIn({ port: node.port }, user, `${user}-pw`);
  assert.equal((answer as Frame).header.status, 'good', JSON.stringify(answer));
  return client;
}

/** The next frame within `ms`, or null when none came (or the connection closed). */
export async function nextFrame(client: RawClient, ms: number): Promise<Frame | null> {
  try {
    return (await client.next(ms)) as Frame | null;
  } catch {
    return null;
  }
}

/** Reads `client`'s deliveries until none comes for `quietMs` (or it closes), adding each one's `data.text` to `seen`. */
export async function readTexts(client: RawClient, quietMs: number, seen: string[]): Promise<void> {
  for (let i = 0; i < 10_000; i++) {
    let frame: Frame | null;
    try {
      frame = (await client.next(quietMs)) as Frame | null;
    } catch {
      return; // quiet
    }
    if (frame === null) return; // closed
    const data = frame.payload['data'] as { text?: string } | undefined;
    if (frame.header['messageType'] === 'receivedMessage' && typeof data?.text === 'string') seen.push(data.text);
  }
}
