// The contract every AccountStore passes (src/server/accounts/account-store.ts): SQLite and memory
// and Redis (redis-stores.test.ts). `open` gives a new, empty store; each test opens its own and closes it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AccountStore } from '../../src/server/accounts/account-store.ts';
import { allRejectClosed, code } from './store-errors.ts';

function storeError(pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) => code('store_error')(err) && pattern.test((err as Error).message);
}

export function accountStoreContract(name: string, open: () => Promise<AccountStore>): void {
  async function withStore(fn: (store: AccountStore) => Promise<void>): Promise<void> {
    const store = await open();
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  }

  describe(`AccountStore contract: ${name}`, () => {
    test('adds, verifies, lists, changes a password and removes', () =>
      withStore(async (store) => {
        assert.deepEqual(await store.list(), []);
        await store.add('bob', 'bob-pw');
        await store.add('alice', 'alice-pw');
        assert.deepEqual(await store.list(), ['alice', 'bob']);
        assert.equal(await store.has('alice'), true);
        assert.equal(await store.has('carol'), false);
        assert.equal(await store.verify('alice', 'alice-pw'), true);
        assert.equal(await store.verify('alice', 'bob-pw'), false);
        assert.equal(await store.verify('carol', 'alice-pw'), false);
        assert.equal(await store.verify('alice', ''), false);
        assert.equal(await store.verify('', 'alice-pw'), false);
        assert.equal(await store.setPassword('alice', 'new-pw'), true);
        assert.equal(await store.verify('alice', 'alice-pw'), false);
        assert.equal(await store.verify('alice', 'new-pw'), true);
        assert.equal(await store.setPassword('carol', 'pw'), false);
        assert.equal(await store.remove('alice'), true);
        assert.equal(await store.remove('alice'), false);
        assert.equal(await store.has('alice'), false);
        assert.equal(await store.verify('alice', 'new-pw'), false);
        assert.deepEqual(await store.list(), ['bob']);
      }));

    test('refuses a second user of the same name (after trimming), even added concurrently', () =>
      withStore(async (store) => {
        await store.add('alice', 'pw1');
        await assert.rejects(store.add('alice', 'pw2'), storeError(/^user "alice" already exists$/));
        await assert.rejects(store.add('  alice ', 'pw2'), storeError(/already exists/));
        assert.equal(await store.verify('alice', 'pw1'), true);
        const both = await Promise.allSettled([store.add('bob', 'b1'), store.add('bob', 'b2')]);
        assert.equal(both.filter((r) => r.status === 'fulfilled').length, 1);
      }));

    test('trims usernames everywhere; names that differ only in case or normalisation are one account', () =>
      withStore(async (store) => {
        await store.add('  alice\t', 'pw');
        assert.deepEqual(await store.list(), ['alice']);
        assert.equal(await store.has(' alice '), true);
        assert.equal(await store.verify('alice ', 'pw'), true);
        assert.equal(await store.setPassword(' alice', 'pw2'), true);
        assert.equal(await store.verify('alice', 'pw2'), true);
        // docs/protocol.md §2.6 (issue 11): the profile's canonical form, not the original's case-sensitivity.
        assert.equal(await store.has('Alice'), true);
        assert.equal(await store.verify('ALICE', 'pw2'), true);
        await assert.rejects(store.add('Alice', 'pw3'), storeError(/already exists/));
        await store.add('A\u0301lice', 'pw4');
        assert.deepEqual(await store.list(), ['alice', '\u00e1lice'], 'á decomposed is stored composed');
        assert.equal(await store.verify('\u00c1lice', 'pw4'), true);
        await assert.rejects(store.add('alice\u200b', 'pw'), storeError(/U\+200B/));
        assert.equal(await store.remove('\talice'), true);
      }));

    test('rejects invalid usernames and empty passwords with store_error', () =>
      withStore(async (store) => {
        await assert.rejects(store.add('', 'pw'), storeError(/invalid username "": .*empty/));
        await assert.rejects(store.add('x'.repeat(65), 'pw'), storeError(/longer than 64/));
        await assert.rejects(store.add('a\u0007b', 'pw'), storeError(/control/));
        await assert.rejects(store.add('alice', ''), storeError(/password is empty/));
        await store.add('alice', 'pw');
        await assert.rejects(store.setPassword('alice', ''), storeError(/password is empty/));
        await assert.rejects(store.setPassword('a\nb', 'pw'), storeError(/control/));
        assert.deepEqual(await store.list(), ['alice']);
        assert.equal(await store.verify('a\u0007b', 'pw'), false);
      }));

    test('lists sorted by UTF-16 code units whatever the insertion order', () =>
      withStore(async (store) => {
        for (const user of ['zed', '_bob', 'amy', 'émile', '10', '9']) await store.add(user, 'pw');
        assert.deepEqual(await store.list(), ['10', '9', '_bob', 'amy', 'zed', 'émile']);
      }));

    test('an unknown user costs a password check, like a wrong password (no shortcut that reveals who exists)', () =>
      withStore(async (store) => {
        await store.add('alice', 'pw');
        const time = async (user: string): Promise<number> => {
          const t0 = performance.now();
          assert.equal(await store.verify(user, 'wrong'), false);
          return performance.now() - t0;
        };
        await time('nobody'); // warm up
        const unknown = await time('nobody');
        const wrong = await time('alice');
        // scrypt at the default cost takes tens of ms; a shortcut would take well under one.
        assert.ok(unknown > wrong / 4, `unknown user ${unknown.toFixed(1)} ms, wrong password ${wrong.toFixed(1)} ms`);
      }));

    test('close is idempotent; every other call afterwards rejects with store_error', async () => {
      const store = await open();
      await store.add('alice', 'pw');
      await store.close();
      await store.close();
      await allRejectClosed({
        verify: () => store.verify('alice', 'pw'),
        add: () => store.add('bob', 'pw'),
        remove: () => store.remove('alice'),
        setPassword: () => store.setPassword('alice', 'pw2'),
        has: () => store.has('alice'),
        list: () => store.list(),
      });
    });
  });
}
