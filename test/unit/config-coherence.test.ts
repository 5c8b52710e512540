// Checks across config blocks (src/server/config/coherence.ts, issue 11 finding 6): sockets that
// let other local users in are warned about; limits that contradict each other are refused.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidConfigError, parseConfig } from '../../src/server/config/load.ts';

const base = { network: { types: ['unix'], unix: { address: 'b.sock' } } };
const parse = (extra: Record<string, unknown>) => parseConfig({ ...base, ...extra }, { baseDir: '/srv/bester' });

function errors(extra: Record<string, unknown>): readonly string[] {
  try {
    parse(extra);
  } catch (err) {
    if (err instanceof InvalidConfigError) return err.errors;
    throw err;
  }
  return [];
}

describe('config checked across blocks', () => {
  test('the defaults are coherent: no warning, no error', () => {
    assert.deepEqual(parse({}).warnings, []);
  });

  test('an informer socket others can open is warned about, saying what they could do', () => {
    const { warnings } = parse({ informer: { mode: '0777' } });
    assert.deepEqual(warnings, [
      'informer.mode: 0777 lets every local user query the daemon and deliver to any user (informer.allowSendClients) and reload it and restart its handlers (informer.allowControl); use 0600 unless that is meant',
    ]);
    assert.match(parse({ informer: { mode: '0660', allowSendClients: false, allowControl: false } }).warnings[0] ?? '', /^informer\.mode: 0660 lets the socket's group query the daemon; use 0600/);
    assert.match(parse({ network: { types: ['unix'], unix: { address: 'b.sock', mode: '0666' } } }).warnings[0] ?? '', /^network\.unix\.mode: 0666 .*every local user connect/);
  });

  test('limits that contradict each other are refused, naming the key and why', () => {
    assert.deepEqual(errors({ limits: { maxOutboundBytes: 65536 } }), [
      'limits.maxOutboundBytes: 65536 is smaller than the largest delivery (limits.maxHandlerFrameBytes 1048576 plus 4096 bytes of frame): every recipient of such a result would be cut off as a slow consumer',
    ]);
    assert.match(errors({ limits: { maxLoginFrameBytes: 300000 } })[0] ?? '', /^limits\.maxLoginFrameBytes: 300000 is larger than limits\.maxFrameBytes/);
    assert.match(parse({ limits: { maxFrameBytes: 2_000_000, maxOutboundBytes: 16_000_000 } }).warnings.join('\n'), /limits\.maxFrameBytes: 2000000 is larger than limits\.maxHandlerFrameBytes/);
    assert.match(errors({ limits: { maxConnections: 10, maxUnauthenticated: 20 } }).join('\n'), /limits\.maxUnauthenticated: 20 is larger than limits\.maxConnections/);
    assert.match(errors({ offline: { maxBytesPerUser: 10_000_000, maxBytes: 5_000_000 } }).join('\n'), /offline\.maxBytesPerUser: 10000000 is larger than offline\.maxBytes/);
  });
});
