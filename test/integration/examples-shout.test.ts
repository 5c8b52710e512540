// examples/handlers/shout.py: a handler in Python 3 without any Bester library, started by a real
// daemon through its #! line.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { python3, startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { assertQuiet, delivery, exampleHandler, nextFrame, statusOf, Users } from '../helpers/examples.ts';
import { message } from '../helpers/raw-client.ts';

describe('example: shout (Python)', () => {
  let d: TestDaemon;
  const users = new Users(() => d);
  before(async () => {
    python3(); // fails clearly here if python3 is missing (.ci/run installs it)
    d = await startTestDaemon({ handlers: { shout: exampleHandler('shout.py') } });
    assert.equal(d.server.handlerStatus()[0]?.state, 'ready');
  });
  afterEach(() => users.closeAll());
  after(() => d.close());

  test('upper-cases data.text and sends it to data.to', async () => {
    const [alice, bob] = [await users.login('alice'), await users.login('bob')];
    alice.send(message('shout', 's1', { to: 'bob', text: 'hello, olá' }));
    assert.deepEqual(await nextFrame(bob), delivery('shout', { text: 'HELLO, OLÁ' }));
    assert.equal((await statusOf(alice, 's1')).status, 'good');
  });

  test('a request it cannot use is a handler error, and the handler keeps serving', async () => {
    const [alice, bob] = [await users.login('alice'), await users.login('bob')];
    alice.send(message('shout', 's2', { to: 'bob' }));
    assert.equal((await statusOf(alice, 's2')).code, 'handler_error');
    alice.send(message('shout', 's3', 'not an object'));
    assert.equal((await statusOf(alice, 's3')).code, 'handler_error');
    alice.send(message('shout', 's4', { to: ['bob'], text: 'again' }));
    assert.deepEqual(await nextFrame(bob), delivery('shout', { text: 'AGAIN' }));
    assert.equal((await statusOf(alice, 's4')).status, 'good');
    await assertQuiet(bob);
  });

  test('it never needed a restart, and on the daemon\'s SIGTERM it exits 0', async () => {
    assert.equal(d.server.handlerStatus()[0]?.restarts, 0);
    await d.server.close(); // d.close() in after() closes again (idempotent) and removes the folder
    const status = d.server.handlerStatus()[0];
    assert.equal(status?.state, 'stopped');
    assert.deepEqual({ code: status?.lastExit?.code, signal: status?.lastExit?.signal }, { code: 0, signal: null });
  });
});
