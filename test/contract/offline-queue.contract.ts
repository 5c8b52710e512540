// The contract every OfflineQueue passes (src/server/storage/offline-queue.ts): memory, SQLite and
// Redis. A backend's test file calls offlineQueueContract with a function opening a new, empty
// queue; each test opens its own and closes it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NewOfflineEntry, OfflineEntry, OfflineQueue } from '../../src/server/storage/offline-queue.ts';
import { allRejectClosed, code } from './store-errors.ts';

export function offlineEntry(user: string, n: number, extra: Partial<NewOfflineEntry> = {}): NewOfflineEntry {
  return {
    user,
    frame: JSON.stringify({ header: { messageType: 'receivedMessage' }, payload: { data: { n, text: 'é ✓ "q"' }, type: 't' } }),
    msgType: 'chat',
    msgId: `m${n}`,
    sender: 'alice',
    origin: null,
    ...extra,
  };
}

const ids = (entries: readonly OfflineEntry[]): Array<string | null> => entries.map((e) => e.msgId);

export function offlineQueueContract(name: string, open: () => Promise<OfflineQueue>): void {
  async function withQueue(fn: (queue: OfflineQueue) => Promise<void>): Promise<void> {
    const queue = await open();
    try {
      await fn(queue);
    } finally {
      await queue.close();
    }
  }
  const keep = { now: 1_000_000, ttlMs: 60_000, cap: 100 };

  describe(`OfflineQueue contract: ${name}`, () => {
    test('put gives an id and the times; every field comes back from page as it was put', () =>
      withQueue(async (queue) => {
        const put = await queue.put(offlineEntry('bob', 1, { sender: null, origin: 'node-x', msgId: null }), keep);
        assert.ok(typeof put.id === 'string' || typeof put.id === 'number');
        assert.equal(put.createdAt, keep.now);
        assert.equal(put.expiresAt, keep.now + keep.ttlMs);
        const [read] = await queue.page('bob', null, 10);
        assert.deepEqual(read, put);
        assert.deepEqual(
          { ...read, id: 0 },
          { ...offlineEntry('bob', 1, { sender: null, origin: 'node-x', msgId: null }), id: 0, createdAt: keep.now, expiresAt: keep.now + keep.ttlMs },
        );
      }));

    test('pages are per user, in put order, after a given id, at most `limit`', () =>
      withQueue(async (queue) => {
        for (let i = 1; i <= 5; i++) {
          await queue.put(offlineEntry('bob', i), keep);
          await queue.put(offlineEntry('carol', 100 + i), keep);
        }
        const all = await queue.page('bob', null, 100);
        assert.deepEqual(ids(all), ['m1', 'm2', 'm3', 'm4', 'm5']);
        assert.deepEqual(ids(await queue.page('bob', all[1]!.id, 2)), ['m3', 'm4']);
        assert.deepEqual(ids(await queue.page('bob', all[4]!.id, 2)), []);
        assert.deepEqual(ids(await queue.page('carol', null, 2)), ['m101', 'm102']);
        assert.deepEqual(await queue.page('nobody', null, 10), []);
        assert.equal(new Set(all.map((e) => e.id)).size, 5, 'ids are distinct');
      }));

    test('concurrent puts for one user keep their call order', () =>
      withQueue(async (queue) => {
        await Promise.all(Array.from({ length: 20 }, (_, i) => queue.put(offlineEntry('bob', i + 1), keep)));
        assert.deepEqual(ids(await queue.page('bob', null, 100)), Array.from({ length: 20 }, (_, i) => `m${i + 1}`));
      }));

    test('ids are never reused: a message put after a removal sorts after every earlier one', () =>
      withQueue(async (queue) => {
        const a = await queue.put(offlineEntry('bob', 1), keep);
        const b = await queue.put(offlineEntry('bob', 2), keep);
        assert.equal(await queue.remove(b.id), true);
        await queue.put(offlineEntry('bob', 3), keep);
        assert.deepEqual(ids(await queue.page('bob', a.id, 10)), ['m3']);
        assert.deepEqual(ids(await queue.page('bob', b.id, 10)), ['m3'], 'paging after a removed id still works');
      }));

    test('the per-user cap refuses with recipient_queue_full naming the user; others are not affected', () =>
      withQueue(async (queue) => {
        const capped = { ...keep, cap: 2 };
        await queue.put(offlineEntry('bob', 1), capped);
        await queue.put(offlineEntry('bob', 2), capped);
        await assert.rejects(queue.put(offlineEntry('bob', 3), capped), (err: unknown) => code('recipient_queue_full')(err) && /"bob"/.test((err as Error).message));
        await queue.put(offlineEntry('carol', 1), capped);
        assert.equal(await queue.waiting('bob'), 2);
        const [first] = await queue.page('bob', null, 1);
        assert.equal(await queue.remove(first!.id), true);
        await queue.put(offlineEntry('bob', 4), capped);
        assert.deepEqual(ids(await queue.page('bob', null, 10)), ['m2', 'm4']);
      }));

    test('byte caps, per user and in all: a put that would pass one is refused; removal and expiry give the bytes back', () =>
      withQueue(async (queue) => {
        const size = Buffer.byteLength(offlineEntry('bob', 1).frame, 'utf8');
        const perUser = { ...keep, capBytes: size * 2, totalCapBytes: size * 3 };
        await queue.put(offlineEntry('bob', 1), perUser);
        await queue.put(offlineEntry('bob', 2), perUser);
        await assert.rejects(queue.put(offlineEntry('bob', 3), perUser), (err: unknown) => code('recipient_queue_full')(err) && /bytes are already waiting for "bob"/.test((err as Error).message));
        await queue.put(offlineEntry('carol', 1), perUser);
        await assert.rejects(queue.put(offlineEntry('dave', 1), perUser), (err: unknown) => code('recipient_queue_full')(err) && /at most \d+ bytes for users who are offline/.test((err as Error).message));
        const [first] = await queue.page('bob', null, 1);
        await queue.remove(first!.id);
        await queue.put(offlineEntry('dave', 1), perUser);
        assert.equal((await queue.takeExpired(keep.now + keep.ttlMs)).length, 3);
        for (const user of ['bob', 'carol', 'dave']) await queue.put(offlineEntry(user, 9), perUser);
        assert.equal(await queue.waiting(), 3);
      }));

    test('concurrent puts never exceed the cap', () =>
      withQueue(async (queue) => {
        const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => queue.put(offlineEntry('bob', i), { ...keep, cap: 3 })));
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 3);
        for (const r of results) if (r.status === 'rejected') assert.ok(code('recipient_queue_full')(r.reason));
        assert.equal(await queue.waiting('bob'), 3);
      }));

    test('remove is once: a second remove of the same id resolves false', () =>
      withQueue(async (queue) => {
        const kept = await queue.put(offlineEntry('bob', 1), keep);
        assert.equal(await queue.remove(kept.id), true);
        assert.equal(await queue.remove(kept.id), false);
        assert.deepEqual(await queue.page('bob', null, 10), []);
        assert.equal(await queue.waiting('bob'), 0);
      }));

    test('takeExpired removes and returns only what is past its TTL, oldest first, skips users, and returns each once', () =>
      withQueue(async (queue) => {
        const t0 = 1_000_000;
        await queue.put(offlineEntry('bob', 1), { now: t0, ttlMs: 100, cap: 10 });
        await queue.put(offlineEntry('carol', 2), { now: t0, ttlMs: 100, cap: 10 });
        await queue.put(offlineEntry('dave', 3), { now: t0 + 10, ttlMs: 100, cap: 10 });
        await queue.put(offlineEntry('bob', 4), { now: t0 + 500, ttlMs: 100, cap: 10 });
        assert.deepEqual(await queue.takeExpired(t0 + 99), []);
        assert.deepEqual(ids(await queue.takeExpired(t0 + 110, (user) => user === 'carol')), ['m1', 'm3']);
        assert.deepEqual(ids(await queue.page('bob', null, 10)), ['m4']);
        assert.deepEqual(ids(await queue.takeExpired(t0 + 110)), ['m2'], "carol's, once no longer skipped");
        assert.deepEqual(await queue.takeExpired(t0 + 110), [], 'nothing twice');
        const [a, b] = await Promise.all([queue.takeExpired(t0 + 10_000), queue.takeExpired(t0 + 10_000)]);
        assert.deepEqual([...ids(a), ...ids(b)], ['m4'], 'concurrent sweeps: each entry once');
        assert.equal(await queue.waiting(), 0);
      }));

    test('page includes entries past their TTL until they are taken (the flush skips them)', () =>
      withQueue(async (queue) => {
        await queue.put(offlineEntry('bob', 1), { now: 0, ttlMs: 1, cap: 10 });
        assert.deepEqual(ids(await queue.page('bob', null, 10)), ['m1']);
      }));

    test('waiting counts per user and in all', () =>
      withQueue(async (queue) => {
        assert.equal(await queue.waiting(), 0);
        for (let i = 1; i <= 3; i++) await queue.put(offlineEntry('bob', i), keep);
        await queue.put(offlineEntry('carol', 9), keep);
        assert.equal(await queue.waiting('bob'), 3);
        assert.equal(await queue.waiting('carol'), 1);
        assert.equal(await queue.waiting('nobody'), 0);
        assert.equal(await queue.waiting(), 4);
      }));

    test('close is idempotent; every other call afterwards rejects with store_error', async () => {
      const queue = await open();
      const kept = await queue.put(offlineEntry('bob', 1), keep);
      await queue.close();
      await queue.close();
      await allRejectClosed({
        put: () => queue.put(offlineEntry('bob', 2), keep),
        page: () => queue.page('bob', null, 10),
        remove: () => queue.remove(kept.id),
        takeExpired: () => queue.takeExpired(Number.MAX_SAFE_INTEGER),
        waiting: () => queue.waiting(),
        waitingUser: () => queue.waiting('bob'),
      });
    });
  });
}
