// examples/handlers/chat.ts behind a real daemon that starts it with "input": "envelope", with real
// clients (the client SDK): direct messages carry the verified sender; rooms reach the members who
// are online, asked of the daemon's informer.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { exampleHandler, Inbox } from '../helpers/examples.ts';

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('example: chat', () => {
  let d: TestDaemon;
  const open: Inbox[] = [];
  async function as(user: string): Promise<Inbox> {
    const inbox = await Inbox.open(`127.0.0.1:${d.port}`, user);
    open.push(inbox);
    return inbox;
  }
  /** Closes a user's client and waits until the daemon (and so its informer) has let go of them. */
  async function goOffline(inbox: Inbox): Promise<void> {
    await inbox.close();
    for (let i = 0; i < 250 && d.server.registry.isOnline(inbox.client.username); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(d.server.registry.isOnline(inbox.client.username), false);
  }

  before(async () => {
    d = await startTestDaemon({ handlers: { chat: exampleHandler('chat.ts', { input: 'envelope' }) } });
    assert.equal(d.server.handlerStatus()[0]?.state, 'ready');
    assert.ok(d.server.informerPath !== null, 'the chat example needs the informer');
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((inbox) => inbox.close()));
    for (let i = 0; i < 250 && d.server.registry.connectionCount > 0; i++) await new Promise((r) => setTimeout(r, 20));
  });
  after(() => d.close());

  test('a direct message arrives from the verified sender, whatever the data claims', async () => {
    const [alice, bob] = [await as('alice'), await as('bob')];
    const report = await alice.client.send('chat', { to: 'bob', text: 'hi', from: 'mallory' });
    assert.equal(report.status, 'good');
    const got = await bob.next();
    assert.equal(got.type, 'chat');
    const data = got.data as { from: string; text: string; sentAt: string };
    assert.deepEqual({ from: data.from, text: data.text }, { from: 'alice', text: 'hi' });
    assert.match(data.sentAt, ISO_TIME);
    await alice.quiet();
  });

  test('a direct message to someone unknown here: bad, recipients_offline', async () => {
    const alice = await as('alice');
    // A user with an account who is offline would get it at their next login (docs/protocol.md §4.3.1).
    const report = await alice.client.send('chat', { to: 'nobody', text: 'there?' });
    assert.equal(report.code, 'recipients_offline');
    assert.deepEqual(report.undelivered, ['nobody']);
  });

  test('rooms: join is announced, say reaches the members online, offline members stay members', async () => {
    const [alice, bob, carol] = [await as('alice'), await as('bob'), await as('carol')];
    assert.equal((await alice.client.send('chat', { room: 'lobby', action: 'join' })).status, 'good');
    assert.deepEqual((await alice.next()).data, { room: 'lobby', event: 'joined', user: 'alice' });
    await bob.client.send('chat', { room: 'lobby', action: 'join' });
    for (const member of [alice, bob]) assert.deepEqual((await member.next()).data, { room: 'lobby', event: 'joined', user: 'bob' });
    await carol.client.send('chat', { room: 'lobby', action: 'join' });
    for (const member of [alice, bob, carol]) assert.deepEqual((await member.next()).data, { room: 'lobby', event: 'joined', user: 'carol' });

    await goOffline(carol);
    const said = await bob.client.send('chat', { room: 'lobby', action: 'say', text: 'hello' });
    assert.equal(said.status, 'good', 'an offline member is not a failed delivery');
    for (const member of [alice, bob]) {
      const got = await member.next();
      assert.equal(got.type, 'chat');
      const data = got.data as Record<string, unknown>;
      assert.deepEqual({ ...data, sentAt: undefined }, { room: 'lobby', from: 'bob', text: 'hello', sentAt: undefined });
      assert.match(String(data.sentAt), ISO_TIME);
    }

    const carolAgain = await as('carol'); // still a member: gets the room's messages again
    await alice.client.send('chat', { room: 'lobby', action: 'say', text: 'welcome back' });
    for (const member of [alice, bob, carolAgain]) {
      const data = (await member.next()).data as Record<string, unknown>;
      assert.deepEqual([data.from, data.text], ['alice', 'welcome back']);
    }
    await carolAgain.quiet();
  });

  test('rooms: the list of rooms with their online members goes to the sender only', async () => {
    const [alice, bob] = [await as('alice'), await as('bob')];
    await alice.client.send('chat', { room: 'garden', action: 'join' });
    await bob.client.send('chat', { room: 'garden', action: 'join' });
    await alice.client.send('chat', { room: 'attic', action: 'join' });
    assert.deepEqual((await bob.next()).data, { room: 'garden', event: 'joined', user: 'bob' });
    await goOffline(alice);
    assert.equal((await bob.client.send('chat', { action: 'rooms' })).status, 'good');
    const { rooms } = (await bob.next()).data as { rooms: Array<{ room: string; online: string[] }> };
    assert.deepEqual(
      rooms.filter((r) => r.room === 'garden' || r.room === 'attic'),
      [
        { room: 'attic', online: [] },
        { room: 'garden', online: ['bob'] },
      ],
    );
  });

  test('who is online: the sorted names of the users online go to the sender only', async () => {
    const [alice, bob, carol] = [await as('alice'), await as('bob'), await as('carol')];
    await goOffline(carol);
    assert.equal((await bob.client.send('chat', { action: 'online' })).status, 'good');
    assert.deepEqual((await bob.next()).data, { online: ['alice', 'bob'] });
    await alice.quiet();
  });

  test('leave is announced to the room, the leaver included; then their messages no longer reach it', async () => {
    const [alice, bob] = [await as('alice'), await as('bob')];
    await alice.client.send('chat', { room: 'kitchen', action: 'join' });
    await bob.client.send('chat', { room: 'kitchen', action: 'join' });
    await alice.next();
    await alice.next();
    await bob.next();
    assert.equal((await bob.client.send('chat', { room: 'kitchen', action: 'leave' })).status, 'good');
    for (const member of [alice, bob]) assert.deepEqual((await member.next()).data, { room: 'kitchen', event: 'left', user: 'bob' });
    await alice.client.send('chat', { room: 'kitchen', action: 'say', text: 'gone?' });
    assert.equal((await alice.next()).type, 'chat');
    await bob.quiet();
  });

  test('saying in a room you have not joined, leaving it, or an unknown action: bad, handler_error, nothing sent', async () => {
    const [alice, bob] = [await as('alice'), await as('bob')];
    await bob.client.send('chat', { room: 'porch', action: 'join' });
    await bob.next();
    for (const data of [
      { room: 'porch', action: 'say', text: 'let me in' },
      { room: 'porch', action: 'leave' },
      { room: 'porch', action: 'dance' },
      { room: '', action: 'join' },
      { text: 'to nobody' },
      'not an object',
    ]) {
      const report = await alice.client.send('chat', data);
      assert.equal(report.status, 'bad', JSON.stringify(data));
      assert.equal(report.code, 'handler_error', JSON.stringify(data));
    }
    await bob.quiet();
    await alice.quiet();
  });
});
