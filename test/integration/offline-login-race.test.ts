// docs/protocol.md §4.3.1 against a real daemon whose offline queue is asynchronous and slow: a
// message kept for bob while he logs in (its put still on its way) is delivered in that same
// session, after the messages kept earlier and before a live one sent after his login. The daemon
// runs without files for its accounts and its queue (the memory implementations).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { message, type RawClient } from '../helpers/raw-client.ts';
import { startSlowQueueDaemon } from '../helpers/slow-offline-queue.ts';

interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

test('a message kept while its recipient logs in arrives in that session, between the kept ones and the live ones', async () => {
  const daemon = await startSlowQueueDaemon(['alice', 'bob', 'carol']);
  const { queue } = daemon;
  const as = (user: string) => daemon.as(user);
  const next = async (c: RawClient): Promise<Frame> => {
    const frame = (await c.next(5000)) as Frame | null;
    assert.ok(frame !== null, 'the connection closed');
    return frame;
  };
  try {
    const [alice, carol] = [await as('alice'), await as('carol')];
    for (let n = 1; n <= 2; n++) {
      alice.send(message('fake', `m${n}`, { to: ['bob'], n }));
      assert.deepEqual((await next(alice)).header.stored, ['bob']);
    }
    // m3 finds bob offline; its put waits...
    queue.hold();
    alice.send(message('fake', 'm3', { to: ['bob'], n: 3 }));
    await queue.putStarted();
    // ...while bob logs in, and carol sends him a live message (it waits behind his flush).
    const bob = await as('bob');
    carol.send(message('fake', 'live', { to: ['bob'], n: 4 }));
    assert.equal((await next(carol)).header.status, 'good');
    queue.release();
    assert.deepEqual((await next(alice)).header.stored, ['bob'], 'm3 was kept');

    const got: unknown[] = [];
    for (let i = 0; i < 4; i++) got.push((await next(bob)).payload.data);
    assert.deepEqual(got.map((d) => (d as { n: number }).n), [1, 2, 3, 4]);
    assert.equal(await queue.waiting('bob'), 0, 'nothing waits for the next login');
  } finally {
    await daemon.close();
  }
});
