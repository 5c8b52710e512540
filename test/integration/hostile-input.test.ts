// Hostile JSON through a real daemon (docs/protocol.md §1.3): `__proto__` and `constructor` keys
// stay plain data end to end, and nesting over limits.maxJsonDepth is refused before parsing, from
// clients, from handlers and on the informer.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { encodeJsonFrame } from '../../src/protocol/frame.ts';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { loggedIn, message, RawClient } from '../helpers/raw-client.ts';

interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

const HOSTILE = '"__proto__": {"polluted": 1}, "constructor": {"prototype": {"x": 1}}';

function assertNotPolluted(): void {
  const plain = {} as Record<string, unknown>;
  assert.equal(plain.polluted, undefined);
  assert.equal(plain.x, undefined);
  assert.equal(Object.hasOwn(Object.prototype, 'polluted'), false);
  assert.equal(Object.hasOwn(Object.prototype, 'x'), false);
  assert.equal(typeof plain.constructor, 'function');
}

function assertHostileKeys(value: unknown, where: string): void {
  assert.ok(typeof value === 'object' && value !== null, where);
  assert.ok(Object.hasOwn(value, '__proto__'), `${where}: "__proto__" arrived as an own key`);
  assert.deepEqual(Object.getOwnPropertyDescriptor(value, '__proto__')?.value, { polluted: 1 }, where);
  assert.deepEqual(Object.getOwnPropertyDescriptor(value, 'constructor')?.value, { prototype: { x: 1 } }, where);
}

describe('hostile JSON through the daemon', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startTestDaemon({ handlers: { fake: {}, env: { input: 'envelope' } }, extra: { limits: { maxJsonDepth: 16 } } });
  });
  after(() => d.close());

  async function as(user: string): Promise<RawClient> {
    const { client, answer } = await loggedIn({ port: d.port }, user, `${user}-pw`);
    assert.equal((answer as Frame).header.status, 'good');
    return client;
  }

  test('__proto__ and constructor keys in login, header, payload and data pollute nothing and reach the handler as data', async () => {
    const client = await RawClient.connect({ port: d.port });
    client.write(
      encodeJsonFrame(
        `{"header": {"scope": "client", ${HOSTILE}, "authentication": {"username": "alice", "password": "alice-pw", ${HOSTILE}}}}`,
      ),
    );
    assert.equal(((await client.next()) as Frame).header.status, 'good');
    for (const type of ['fake', 'env']) {
      const data = `{"to": ["alice"], ${HOSTILE}}`;
      client.write(encodeJsonFrame(`{"header": {${HOSTILE}}, "payload": {${HOSTILE}, "type": "${type}", "id": "p-${type}", "data": ${data}}}`));
      const delivery = (await client.next()) as Frame;
      assert.equal(delivery.header.messageType, 'receivedMessage');
      // The fake handler echoes what it received: the data itself, or the envelope around it.
      const echoed = type === 'env' ? (delivery.payload.data as { data: unknown }).data : delivery.payload.data;
      assertHostileKeys(echoed, `${type}: the handler's input`);
      const report = (await client.next()) as Frame;
      assert.deepEqual([report.payload.id, report.header.status], [`p-${type}`, 'good']);
    }
    assertNotPolluted();
    client.close();
  });

  test('a frame nested one level over maxJsonDepth is refused with malformed_json and closed; at the limit it is served', async () => {
    const client = await as('alice');
    // Envelope (1) + payload (2) + 14 arrays = 16: at the limit.
    const at = `${'['.repeat(14)}${']'.repeat(14)}`;
    client.write(encodeJsonFrame(`{"header": {}, "payload": {"type": "fake", "id": "d16", "data": ${at}}}`));
    assert.equal(((await client.next()) as Frame).header.status, 'good');
    // Brackets inside strings do not count.
    client.send(message('fake', 'd-str', { to: [], text: '[[[[[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{{{\\"[[[[[' }));
    assert.equal(((await client.next()) as Frame).header.status, 'good');
    const over = `[${at}]`;
    client.write(encodeJsonFrame(`{"header": {}, "payload": {"type": "fake", "id": "d17", "data": ${over}}}`));
    const answer = (await client.next()) as Frame;
    assert.equal(answer.header.messageType, 'error');
    assert.equal(answer.header.code, 'malformed_json');
    assert.match(String(answer.header.reason), /deeper than 16 levels/);
    assert.equal(await client.waitClosed(), true);
  });

  test('a handler reply nested over the limit is handler_bad_reply; the connection stays', async () => {
    const client = await as('bob');
    client.send(message('fake', 'deep', { mode: 'deep', depth: 40, to: ['bob'] }));
    const report = (await client.next()) as Frame;
    assert.equal(report.header.code, 'handler_bad_reply');
    assert.match(String(report.header.reason), /deeper than 16 levels/);
    client.send(message('fake', 'shallow', { mode: 'deep', depth: 3, to: [] }));
    assert.equal(((await client.next()) as Frame).header.status, 'good');
    client.close();
  });

  test('an informer request nested over the limit is answered status "1"; the connection stays usable', async () => {
    const informer = await RawClient.connect({ path: d.server.informerPath! });
    informer.write(encodeJsonFrame(`{"command": {"type": "isClient", "data": ${'['.repeat(30)}${']'.repeat(30)}}}`));
    const answer = (await informer.next()) as { status: string; error: string };
    assert.equal(answer.status, '1');
    assert.match(answer.error, /deeper than 16 levels/);
    informer.send({ command: { type: 'isClient', data: 'nobody' } });
    assert.deepEqual(await informer.next(), { status: '0', data: false });
    informer.close();
  });
});
