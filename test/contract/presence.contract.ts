// The contract every Presence passes (src/server/presence/presence.ts): memory and Redis.
// `open` gives a new, empty presence; each test opens its own and closes it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Presence } from '../../src/server/presence/presence.ts';
import { allRejectClosed } from './store-errors.ts';

export function presenceContract(name: string, open: () => Promise<Presence>): void {
  async function withPresence(fn: (presence: Presence) => Promise<void>): Promise<void> {
    const presence = await open();
    try {
      await fn(presence);
    } finally {
      await presence.close();
    }
  }

  describe(`Presence contract: ${name}`, () => {
    test('empty at first', () =>
      withPresence(async (presence) => {
        assert.deepEqual(await presence.nodesOf('bob'), []);
        assert.deepEqual(await presence.users(), []);
        assert.equal(await presence.count(), 0);
      }));

    test('nodesOf: each node once, sorted, while it holds at least one session of the user', () =>
      withPresence(async (presence) => {
        await presence.add('bob', 'n2', 's1');
        await presence.add('bob', 'n1', 's2');
        await presence.add('bob', 'n2', 's3');
        await presence.add('carol', 'n3', 's4');
        assert.deepEqual(await presence.nodesOf('bob'), ['n1', 'n2']);
        await presence.remove('bob', 'n2', 's1');
        assert.deepEqual(await presence.nodesOf('bob'), ['n1', 'n2'], 'n2 still holds s3');
        await presence.remove('bob', 'n2', 's3');
        assert.deepEqual(await presence.nodesOf('bob'), ['n1']);
        await presence.remove('bob', 'n1', 's2');
        assert.deepEqual(await presence.nodesOf('bob'), []);
        assert.deepEqual(await presence.nodesOf('carol'), ['n3']);
      }));

    test('users each once, sorted; count is sessions; the same session added twice counts once', () =>
      withPresence(async (presence) => {
        await presence.add('bob', 'n1', 's1');
        await presence.add('bob', 'n1', 's1');
        await presence.add('bob', 'n2', 's2');
        await presence.add('alice', 'n1', 's3');
        assert.deepEqual(await presence.users(), ['alice', 'bob']);
        assert.equal(await presence.count(), 3);
        await presence.remove('bob', 'n1', 's1');
        await presence.remove('bob', 'n1', 's1'); // not there any more: nothing happens
        await presence.remove('nobody', 'n9', 'sx');
        assert.equal(await presence.count(), 2);
        await presence.remove('bob', 'n2', 's2');
        assert.deepEqual(await presence.users(), ['alice']);
      }));

    test('a session id is scoped by user and node: the same id elsewhere is another session', () =>
      withPresence(async (presence) => {
        await presence.add('bob', 'n1', 's1');
        await presence.add('carol', 'n1', 's1');
        await presence.add('bob', 'n2', 's1');
        assert.equal(await presence.count(), 3);
        await presence.remove('bob', 'n1', 's1');
        assert.deepEqual(await presence.nodesOf('bob'), ['n2']);
        assert.deepEqual(await presence.nodesOf('carol'), ['n1']);
      }));

    test('dropNode forgets every session of that node and says how many', () =>
      withPresence(async (presence) => {
        await presence.add('bob', 'n1', 's1');
        await presence.add('bob', 'n2', 's2');
        await presence.add('carol', 'n1', 's3');
        await presence.add('carol', 'n1', 's4');
        assert.deepEqual(await presence.sessionsPerNode(), { n1: 3, n2: 1 });
        assert.equal(await presence.dropNode('n1'), 3);
        assert.equal(await presence.dropNode('n1'), 0);
        assert.deepEqual(await presence.users(), ['bob']);
        assert.deepEqual(await presence.nodesOf('bob'), ['n2']);
        assert.equal(await presence.count(), 1);
        assert.deepEqual(await presence.sessionsPerNode(), { n2: 1 });
      }));

    test('concurrent adds and removes settle to the exact state', () =>
      withPresence(async (presence) => {
        const sessions = Array.from({ length: 50 }, (_, i) => ({ user: `u${i % 5}`, node: `n${i % 3}`, id: `s${i}` }));
        await Promise.all(sessions.map((s) => presence.add(s.user, s.node, s.id)));
        await Promise.all(sessions.filter((_, i) => i % 2 === 0).map((s) => presence.remove(s.user, s.node, s.id)));
        assert.equal(await presence.count(), 25);
        assert.deepEqual(await presence.users(), ['u0', 'u1', 'u2', 'u3', 'u4']);
      }));

    test('close is idempotent; every other call afterwards rejects with store_error', async () => {
      const presence = await open();
      await presence.add('bob', 'n1', 's1');
      await presence.close();
      await presence.close();
      await allRejectClosed({
        add: () => presence.add('bob', 'n1', 's2'),
        remove: () => presence.remove('bob', 'n1', 's1'),
        nodesOf: () => presence.nodesOf('bob'),
        users: () => presence.users(),
        count: () => presence.count(),
        sessionsPerNode: () => presence.sessionsPerNode(),
        dropNode: () => presence.dropNode('n1'),
      });
    });
  });
}
