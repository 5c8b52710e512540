// The offline queue on a real SQLite file (src/server/storage/sqlite-offline-queue.ts): order, the
// per-user cap, expiry, removal, and that it shares the daemon's file with the other stores. The
// contract every queue passes is test/contract/offline-queue.contract.ts.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BesterError } from '../../src/protocol/errors.ts';
import { openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';
import type { NewOfflineEntry } from '../../src/server/storage/offline-queue.ts';
import { SqliteFederationOutbox } from '../../src/server/storage/sqlite-federation-outbox.ts';
import { SqliteOfflineQueue as OfflineStore } from '../../src/server/storage/sqlite-offline-queue.ts';
import { tempDir } from '../helpers/daemon.ts';

function entry(user: string, n: number): NewOfflineEntry {
  return {
    user,
    frame: JSON.stringify({ header: { messageType: 'receivedMessage' }, payload: { data: { n }, type: 't' } }),
    msgType: 'chat',
    msgId: `m${n}`,
    sender: 'alice',
    origin: null,
  };
}

describe('offline store', () => {
  let dir: string;
  let n = 0;
  const file = (): string => path.join(dir, `s${++n}.db`);
  before(() => {
    dir = tempDir();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('pages come back per user, oldest first, after a given id', async () => {
    const store = new OfflineStore(file());
    const now = Date.now();
    for (let i = 1; i <= 5; i++) {
      await store.put(entry('bob', i), { now, ttlMs: 60_000, cap: 10 });
      await store.put(entry('carol', 100 + i), { now, ttlMs: 60_000, cap: 10 });
    }
    const all = await store.page('bob', 0, 100);
    assert.deepEqual(all.map((e) => e.msgId), ['m1', 'm2', 'm3', 'm4', 'm5']);
    assert.deepEqual((await store.page('bob', all[1]!.id, 2)).map((e) => e.msgId), ['m3', 'm4']);
    const first = all[0]!;
    assert.deepEqual(
      { ...first, id: 0 },
      { ...entry('bob', 1), id: 0, createdAt: now, expiresAt: now + 60_000 },
      'every field survives the round trip',
    );
    assert.equal(await store.waiting('bob'), 5);
    assert.equal(await store.waiting(), 10);
    await store.close();
    await store.close(); // idempotent
  });

  test('the per-user cap refuses with recipient_queue_full; others are not affected', async () => {
    const store = new OfflineStore(file());
    const options = { now: Date.now(), ttlMs: 60_000, cap: 2 };
    await store.put(entry('bob', 1), options);
    await store.put(entry('bob', 2), options);
    await assert.rejects(
      store.put(entry('bob', 3), options),
      (err: unknown) => err instanceof BesterError && err.code === 'recipient_queue_full' && /"bob"/.test(err.message),
    );
    await store.put(entry('carol', 1), options);
    assert.equal(await store.waiting('bob'), 2);
    // Room again once one is delivered.
    assert.equal(await store.remove((await store.page('bob', 0, 1))[0]!.id), true);
    await store.put(entry('bob', 4), options);
    assert.deepEqual((await store.page('bob', 0, 10)).map((e) => e.msgId), ['m2', 'm4']);
    await store.close();
  });

  test('remove is once: a second remove of the same message says it was gone', async () => {
    const store = new OfflineStore(file());
    const kept = await store.put(entry('bob', 1), { now: Date.now(), ttlMs: 60_000, cap: 10 });
    assert.equal(await store.remove(kept.id), true);
    assert.equal(await store.remove(kept.id), false);
    assert.deepEqual(await store.page('bob', 0, 10), []);
    await store.close();
    // The queue contract (offline-queue.ts): any call after close rejects with store_error.
    await assert.rejects(store.remove(kept.id), (err: unknown) => err instanceof BesterError && err.code === 'store_error');
  });

  test('takeExpired removes and returns only what is past its TTL, and skips users being flushed', async () => {
    const store = new OfflineStore(file());
    const t0 = 1_000_000;
    await store.put(entry('bob', 1), { now: t0, ttlMs: 100, cap: 10 });
    await store.put(entry('carol', 2), { now: t0, ttlMs: 100, cap: 10 });
    await store.put(entry('bob', 3), { now: t0 + 500, ttlMs: 100, cap: 10 });
    assert.deepEqual(await store.takeExpired(t0 + 99), []);
    const taken = await store.takeExpired(t0 + 100, (user) => user === 'carol');
    assert.deepEqual(taken.map((e) => e.msgId), ['m1']);
    assert.deepEqual((await store.page('bob', 0, 10)).map((e) => e.msgId), ['m3']);
    assert.deepEqual((await store.takeExpired(t0 + 100)).map((e) => e.msgId), ['m2'], 'carol\'s, once no longer skipped');
    assert.deepEqual(await store.takeExpired(t0 + 100), [], 'nothing twice');
    await store.close();
  });

  test('survives reopening, and lives in the same file as the accounts and the federation outbox', async () => {
    const shared = file();
    const accounts = await openSqliteAccountStore(shared);
    await accounts.add('bob', 'pw');
    const federation = new SqliteFederationOutbox(shared);
    let store = new OfflineStore(shared);
    for (let i = 1; i <= 3; i++) await store.put(entry('bob', i), { now: Date.now(), ttlMs: 60_000, cap: 10 });
    await store.close();
    store = new OfflineStore(shared);
    const ids = (await store.page('bob', 0, 10)).map((e) => e.id);
    assert.deepEqual((await store.page('bob', 0, 10)).map((e) => e.msgId), ['m1', 'm2', 'm3']);
    await store.remove(ids[2]!);
    await store.put(entry('bob', 4), { now: Date.now(), ttlMs: 60_000, cap: 10 });
    const after = await store.page('bob', 0, 10);
    assert.ok(Number(after[2]!.id) > Number(ids[2]!), 'ids are never reused: a new message sorts after every earlier one');
    assert.equal(await accounts.has('bob'), true);
    assert.equal((await federation.nodeId()).length > 0, true);
    await store.close();
    await federation.close();
    await accounts.close();
  });
});
