// A client that closes while its kept deliveries are still being written (the login's flush is
// slow: a Redis just after a failover, docs/scaling.md "At a Sentinel failover") is gone once the
// flush ends: a message sent to that user afterwards is kept for the next login, not written to a
// connection nobody reads. The daemon runs with the memory stores and a queue whose reads wait.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { parseConfig } from '../../src/server/config/load.ts';
import { MemoryAccountStore } from '../../src/server/accounts/memory-store.ts';
import { silentLogger } from '../../src/server/log.ts';
import { startServer } from '../../src/server/server.ts';
import { MemoryOfflineQueue } from '../../src/server/storage/memory-offline-queue.ts';
import { rawConfig, tempDir } from '../helpers/daemon.ts';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';
import { SlowOfflineQueue } from '../helpers/slow-offline-queue.ts';

interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

test('a client that closed during its login flush is gone when the flush ends: later messages to it are kept', async () => {
  const dir = tempDir();
  const { config } = parseConfig(rawConfig(dir, { handlers: { fake: {} } }), { baseDir: dir });
  const accounts = new MemoryAccountStore();
  for (const user of ['alice', 'bob']) await accounts.add(user, `${user}-pw`);
  const queue = new SlowOfflineQueue(new MemoryOfflineQueue());
  const server = await startServer(config, { logger: silentLogger(), accounts, offlineQueue: queue });
  const port = server.listeners.find((l) => l.kind === 'tcp4')?.port ?? 0;
  const clients: RawClient[] = [];
  const as = async (user: string): Promise<RawClient> => {
    const { client, answer } = await loggedIn({ port }, user, `${user}-pw`);
    assert.equal((answer as Frame).header.status, 'good');
    clients.push(client);
    return client;
  };
  try {
    const alice = await as('alice');
    queue.holdPages();
    const bob = await as('bob'); // his flush waits for its first page...
    bob.close(); // ...while he leaves
    await new Promise((r) => setTimeout(r, 200));
    queue.release();
    await new Promise((r) => setTimeout(r, 200));
    alice.send(message('fake', 'm1', { to: ['bob'], text: 'after he left' }));
    const answer = (await alice.next(5000)) as Frame;
    assert.deepEqual(answer.header.stored, ['bob'], `kept for his next login: ${JSON.stringify(answer)}`);
  } finally {
    for (const c of clients) c.close();
    await server.close();
    await queue.close();
    await accounts.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
