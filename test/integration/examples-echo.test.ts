// examples/handlers/echo.ts, started by a real daemon the way examples/server.conf starts it.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { assertQuiet, delivery, exampleHandler, nextFrame, statusOf, Users } from '../helpers/examples.ts';
import { message } from '../helpers/raw-client.ts';

describe('example: echo', () => {
  let d: TestDaemon;
  const users = new Users(() => d);
  before(async () => {
    d = await startTestDaemon({ handlers: { echo: exampleHandler('echo.ts') } });
    assert.equal(d.server.handlerStatus()[0]?.state, 'ready');
  });
  afterEach(() => users.closeAll());
  after(() => d.close());

  test('the data goes, unchanged, to the user named in data.to', async () => {
    const [alice, bob] = [await users.login('alice'), await users.login('bob')];
    alice.send(message('echo', '1', { to: 'bob', text: 'hello' }));
    assert.deepEqual(await nextFrame(bob), delivery('echo', { to: 'bob', text: 'hello' }));
    assert.equal((await statusOf(alice, '1')).status, 'good');
  });

  test('to a list of users, the sender included', async () => {
    const [alice, bob, carol] = [await users.login('alice'), await users.login('bob'), await users.login('carol')];
    const data = { to: ['alice', 'bob', 'carol'], n: [1, 2, 3] };
    alice.send(message('echo', '2', data));
    for (const c of [bob, carol]) assert.deepEqual(await nextFrame(c), delivery('echo', data));
    assert.deepEqual(await nextFrame(alice), delivery('echo', data));
    assert.equal((await statusOf(alice, '2')).status, 'good');
  });

  test('no "to": nobody receives it and the sender gets good; an offline recipient is reported', async () => {
    const [alice, bob] = [await users.login('alice'), await users.login('bob')];
    alice.send(message('echo', '3', 'just a string'));
    assert.equal((await statusOf(alice, '3')).status, 'good');
    alice.send(message('echo', '4', { to: 'nobody' })); // no account (carol would get it at her next login)
    const report = await statusOf(alice, '4');
    assert.equal(report.code, 'recipients_offline');
    assert.deepEqual(report.undelivered, ['nobody']);
    await assertQuiet(bob);
  });
});
