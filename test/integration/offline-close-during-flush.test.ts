// A client that closes while its kept deliveries are still being written (the login's flush is
// slow: a Redis just after a failover, docs/scaling.md "At a Sentinel failover") is gone once the
// flush ends: a message sent to that user afterwards is kept for the next login, not written to a
// connection nobody reads. The daemon runs with the memory stores and a queue whose reads wait.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { message } from '../helpers/raw-client.ts';
import { startSlowQueueDaemon } from '../helpers/slow-offline-queue.ts';

interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

test('a client that closed during its login flush is gone when the flush ends: later messages to it are kept', async () => {
  const daemon = await startSlowQueueDaemon(['alice', 'bob']);
  const { queue } = daemon;
  const as = (user: string) => daemon.as(user);
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
    await daemon.close();
  }
});
