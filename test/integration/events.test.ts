// The core's events (src/server/events.ts, docs/architecture.md): a real daemon, real handler
// processes, raw clients; what a listener hears for logins, messages, handler calls, deliveries and
// closes, and the serverInfo counters built on them (docs/protocol.md §9.4.3).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ServerEventMap, ServerEventName } from '../../src/server/events.ts';
import { connectInformer } from '../../src/sdk/informer.ts';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';

type Heard = { [K in ServerEventName]: Array<ServerEventMap[K]> };

describe('core events', () => {
  let d: TestDaemon;
  const heard: Heard = {
    'connection.opened': [],
    'connection.refused': [],
    'transport.refused': [],
    'connection.closed': [],
    login: [],
    'message.handled': [],
    'handler.called': [],
    delivery: [],
    'delivery.expired': [],
    'config.reload': [],
    'peer.link': [],
  };
  const clients: RawClient[] = [];

  before(async () => {
    d = await startTestDaemon({ handlers: { fake: {} } });
    for (const name of Object.keys(heard) as ServerEventName[]) {
      d.server.events.on(name, ((e: unknown) => void (heard[name] as unknown[]).push(e)));
    }
  });
  after(async () => {
    for (const c of clients) c.close();
    await d.close();
  });

  async function as(user: string, password = `${user}-pw`): Promise<{ client: RawClient; answer: unknown }> {
    const result = await loggedIn({ port: d.port }, user, password);
    clients.push(result.client);
    return result;
  }

  async function until(check: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(check(), what);
  }

  test('logins: a wrong password is `failed` and its connection closes as auth_failed; a good one is `ok`', async () => {
    await as('alice', 'wrong');
    await until(() => heard['connection.closed'].some((e) => e.reason === 'auth_failed'), 'the refused connection is reported closed');
    await as('alice');
    const logins = heard.login.map((e) => [e.outcome, e.user, e.code ?? null]);
    assert.deepEqual(logins, [
      ['failed', 'alice', 'auth_failed'],
      ['ok', 'alice', null],
    ]);
    const closed = heard['connection.closed'].find((e) => e.reason === 'auth_failed');
    assert.equal(closed?.loggedIn, false);
    assert.ok(heard['connection.opened'].length >= 2, 'every accepted stream is reported opened');
  });

  test('a message: its handler call, its delivery, its outcome; a message nobody handles: its code', async () => {
    const alice = clients.at(-1)!;
    const { client: bob } = await as('bob');
    alice.send(message('fake', 'e1', { to: ['bob'], text: 'hi' }));
    await bob.next();
    alice.send(message('nobody', 'e2', {}));
    await until(() => heard['message.handled'].length >= 2, 'both messages are reported handled');
    assert.deepEqual(
      heard['message.handled'].map((e) => [e.type, e.outcome]),
      [
        ['fake', 'good'],
        ['nobody', 'unknown_type'],
      ],
    );
    assert.deepEqual(heard['handler.called'].map((e) => [e.type, e.code]), [['fake', null]]);
    assert.ok((heard['handler.called'][0]?.ms ?? -1) >= 0);
    assert.deepEqual(heard.delivery, [{ type: 'fake', queued: 1, kept: 0, undelivered: 0 }]);
  });

  test('a delivery to a known user who is offline is `kept`; to nobody, `undelivered`', async () => {
    const alice = clients[1]!;
    alice.send(message('fake', 'e3', { to: ['carol', 'nosuchuser'] }));
    await until(() => heard.delivery.length >= 2, 'the delivery is reported');
    assert.deepEqual(heard.delivery[1], { type: 'fake', queued: 0, kept: 1, undelivered: 1 });
  });

  test('a listener that throws changes nothing for the sender; serverInfo counts logins and messages', async () => {
    d.server.events.on('message.handled', () => {
      throw new Error('a broken listener');
    });
    const alice = clients[1]!;
    alice.send(message('fake', 'e4', { to: [] }));
    for (let i = 0; i < 5; i++) {
      const frame = (await alice.next()) as { payload: { id?: string }; header: { status?: string } };
      if (frame.payload.id === 'e4') {
        assert.equal(frame.header.status, 'good');
        break;
      }
    }
    const informer = await connectInformer(d.server.informerPath!);
    try {
      const info = await informer.serverInfo();
      assert.deepEqual(info.logins, { failed: 1, ok: 2 });
      assert.deepEqual(info.messages, { good: 2, recipients_offline: 1, unknown_type: 1 });
    } finally {
      await informer.close();
    }
  });
});
