// multiplex/1 frames (docs/protocol.md §4.5), without I/O; and the handlers.typeMap.T.protocol key.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  isGreeting,
  isSupportedGreeting,
  MULTIPLEX_GREETING_JSON,
  multiplexReplyPieces,
  multiplexRequestPieces,
  offersMultiplex,
  readMultiplexReply,
  readMultiplexRequest,
} from '../../src/protocol/handler-multiplex.ts';
import { jsonTextOfPieces } from '../../src/protocol/json-text.ts';
import { parseConfig } from '../../src/server/config/load.ts';

test('the greeting, and what counts as one', () => {
  assert.equal(MULTIPLEX_GREETING_JSON, '{"bester":"multiplex","version":1}');
  assert.ok(isSupportedGreeting(JSON.parse(MULTIPLEX_GREETING_JSON)));
  assert.ok(isGreeting({ bester: 'multiplex', version: 2 }));
  assert.ok(!isSupportedGreeting({ bester: 'multiplex', version: 2 }));
  for (const reply of [{ header: { status: '0' } }, null, [], 'multiplex', { bester: 'other' }]) assert.ok(!isGreeting(reply));
});

test('BESTER_HANDLER_PROTOCOLS is a comma-separated list', () => {
  assert.ok(offersMultiplex('multiplex/1'));
  assert.ok(offersMultiplex('other/3, multiplex/1'));
  assert.ok(!offersMultiplex(undefined));
  assert.ok(!offersMultiplex('multiplex/2'));
});

test('requests and replies carry an id; anything else is refused', () => {
  const text = jsonTextOfPieces(multiplexRequestPieces(7, { to: ['bob'] }));
  assert.equal(text, '{"id":7,"input":{"to":["bob"]}}');
  assert.deepEqual(readMultiplexRequest(JSON.parse(text)), { id: 7, input: { to: ['bob'] } });
  assert.deepEqual(readMultiplexRequest({ id: 0, input: null }), { id: 0, input: null });
  assert.deepEqual(readMultiplexReply({ id: 3, reply: { header: {} } }), { id: 3, reply: { header: {} } });
  for (const bad of [{ id: '1', reply: {} }, { id: -1, reply: {} }, { id: 1.5, reply: {} }, { id: 1 }, null, [1]]) {
    assert.equal(readMultiplexReply(bad), null);
  }
  assert.equal(readMultiplexRequest({ id: 1 }), null);
  assert.throws(() => multiplexRequestPieces(1, undefined), /not JSON-serialisable/);
  const reply = { header: { status: '0', command: { type: 'sendClients', data: ['bób'] } }, data: { t: '😀' } };
  assert.equal(jsonTextOfPieces(multiplexReplyPieces(12, reply)), JSON.stringify({ id: 12, reply }));
  assert.throws(() => multiplexReplyPieces(1, undefined), /not JSON-serialisable/);
  assert.throws(() => multiplexReplyPieces(1, { n: 1n }), TypeError);
});

test('handlers.typeMap.T.protocol: "auto" by default; a wrong value names its path', () => {
  const raw = (protocol?: unknown): Record<string, unknown> => ({
    network: { types: ['unix'], unix: { address: '/tmp/b.sock' } },
    handlers: {
      availableTypes: ['t'],
      typeMap: { t: { unixDomainSocketPath: 't.sock', ...(protocol === undefined ? {} : { protocol }) } },
    },
  });
  assert.equal(parseConfig(raw(), { baseDir: '/tmp' }).config.handlers.get('t')?.protocol, 'auto');
  assert.equal(parseConfig(raw('multiplex'), { baseDir: '/tmp' }).config.handlers.get('t')?.protocol, 'multiplex');
  assert.throws(() => parseConfig(raw('persistent'), { baseDir: '/tmp' }), /handlers\.typeMap\.t\.protocol: must be "auto"/);
});
