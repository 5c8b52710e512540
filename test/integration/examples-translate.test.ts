// The translation chain (examples/handlers/portuguese.ts -> english.ts): sendHandler, then
// sendClients, behind a real daemon that starts both example handlers.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { translate, VOCABULARY } from '../../examples/handlers/portuguese.ts';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { assertQuiet, delivery, exampleHandler, nextFrame, statusOf, Users } from '../helpers/examples.ts';
import { message } from '../helpers/raw-client.ts';

describe('example: the portuguese vocabulary', () => {
  test('word by word; unknown words, punctuation and capitals kept', () => {
    assert.equal(translate('olá mundo'), 'hello world');
    assert.equal(translate('Bom dia, amigo!'), 'Good day, friend!');
    assert.equal(translate('obrigado pelo café'), 'thank you pelo coffee');
    assert.equal(translate('NÃO'), 'No');
    assert.equal(translate(''), '');
    assert.ok(Object.keys(VOCABULARY).length >= 30);
  });

  test('words that are Object.prototype members are unknown words, not crashes', () => {
    assert.equal(translate('constructor toString'), 'constructor toString');
  });
});

describe('example: portuguese -> english chain', () => {
  let d: TestDaemon;
  const users = new Users(() => d);
  before(async () => {
    d = await startTestDaemon({
      handlers: { portuguese: exampleHandler('portuguese.ts'), english: exampleHandler('english.ts') },
    });
    assert.deepEqual(d.server.handlerStatus().map((h) => h.state), ['ready', 'ready']);
  });
  afterEach(() => users.closeAll());
  after(() => d.close());

  test('alice sends portuguese; bob receives the english handler\'s delivery', async () => {
    const [alice, bob] = [await users.login('alice'), await users.login('bob')];
    alice.send(message('portuguese', 'p1', { to: 'bob', text: 'olá mundo' }));
    assert.deepEqual(await nextFrame(bob), delivery('english', { text: 'hello world', original: 'olá mundo' }));
    assert.equal((await statusOf(alice, 'p1')).status, 'good');
  });

  test('english can be sent to directly', async () => {
    const [alice, bob] = [await users.login('alice'), await users.login('bob')];
    alice.send(message('english', 'e1', { to: ['bob'], text: 'hi' }));
    assert.deepEqual(await nextFrame(bob), delivery('english', { text: 'hi' }));
    assert.equal((await statusOf(alice, 'e1')).status, 'good');
  });

  test('a broken message fails in the step that cannot handle it: bad, handler_error, nothing delivered', async () => {
    const [alice, bob] = [await users.login('alice'), await users.login('bob')];
    alice.send(message('portuguese', 'p2', { to: 'bob' })); // no text: the portuguese step refuses it
    assert.equal((await statusOf(alice, 'p2')).code, 'handler_error');
    alice.send(message('portuguese', 'p3', { text: 'bom dia' })); // no "to": the english step refuses it
    assert.equal((await statusOf(alice, 'p3')).code, 'handler_error');
    await assertQuiet(bob);
  });
});
