// Usernames by the profile (docs/protocol.md §2.6), against a real daemon: the hostile names of
// issue 11 finding 5 are one account with `alice` or refused, and an original client that logs
// in as `Alice` is alice for everyone.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';

interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

describe('usernames (PRECIS UsernameCaseMapped subset)', () => {
  let d: TestDaemon;
  const clients: RawClient[] = [];
  before(async () => {
    d = await startTestDaemon({ handlers: { fake: {} } });
  });
  after(async () => {
    for (const c of clients) c.close();
    await d.close();
  });

  async function login(user: string, password: string): Promise<{ client: RawClient; answer: Frame }> {
    const result = await loggedIn({ port: d.port }, user, password);
    clients.push(result.client);
    return { client: result.client, answer: result.answer as Frame };
  }

  test('names that differ only in case or normalisation cannot become separate accounts; hostile ones are refused', async () => {
    const store = await openSqliteAccountStore(d.server.config.accounts.kind === 'sqlite' ? d.server.config.accounts.path : '');
    try {
      const outcomes: Array<[string, string]> = [];
      for (const name of ['Alice', '\u00e1lice', 'a\u0301lice', 'alice\u200b', 'bob\u202egnp.exe', 'al\u2028ice', 'al\u00a0ice']) {
        outcomes.push([name, await store.add(name, 'x').then(() => 'added', (err: Error) => err.message)]);
      }
      const refused = (name: string, code: string): string =>
        `invalid username ${JSON.stringify(name)}: the username contains U+${code}, a control, format, space or unassigned character`;
      assert.deepEqual(outcomes, [
        ['Alice', 'user "alice" already exists'],
        ['\u00e1lice', 'added'],
        ['a\u0301lice', 'user "\u00e1lice" already exists'],
        ['alice\u200b', refused('alice\u200b', '200B')],
        ['bob\u202egnp.exe', refused('bob\u202egnp.exe', '202E')],
        ['al\u2028ice', refused('al\u2028ice', '2028')],
        ['al\u00a0ice', refused('al\u00a0ice', '00A0')],
      ]);
      assert.deepEqual(await store.list(), ['alice', 'bob', 'carol', '\u00e1lice']);
    } finally {
      await store.close();
    }
  });

  test('an original client logging in as "Alice" is alice: deliveries to "ALICE" reach it, and it is listed as alice', async () => {
    const { client: alice, answer } = await login('Alice', 'alice-pw');
    assert.equal(answer.header.status, 'good');
    const { client: bob } = await login(' BOB ', 'bob-pw');
    bob.send(message('fake', 'u1', { to: ['ALICE'] }));
    assert.equal(((await alice.next()) as Frame).payload.type, 'fake');
    assert.equal(((await bob.next()) as Frame).header.status, 'good');
    assert.deepEqual(d.server.registry.users().toSorted(), ['alice', 'bob']);
    const { answer: refused } = await login('alice\u200b', 'alice-pw');
    assert.equal(refused.header.code, 'auth_failed', 'a name that breaks the profile fails like a wrong password');
  });
});
