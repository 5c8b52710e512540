// What a reload applies and what waits for a restart (src/server/config/diff.ts), on configs parsed
// by the real loader.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffConfigs } from '../../src/server/config/diff.ts';
import { parseConfig } from '../../src/server/config/load.ts';

const handler = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ handlerBinary: '/bin/true', unixDomainSocketPath: 'h.sock', ...extra });

function config(over: { types?: Record<string, unknown>; limits?: Record<string, unknown>; federation?: Record<string, unknown>; network?: Record<string, unknown>; log?: Record<string, unknown> } = {}) {
  const types = over.types ?? { echo: handler(), chat: handler({ unixDomainSocketPath: 'c.sock' }) };
  return parseConfig(
    {
      network: over.network ?? { types: ['tcp4'], tcp4: { address: '127.0.0.1', port: '0' } },
      handlers: { availableTypes: Object.keys(types), typeMap: types },
      ...(over.limits ? { limits: over.limits } : {}),
      ...(over.federation ? { federation: over.federation } : {}),
      ...(over.log ? { log: over.log } : {}),
    },
    { baseDir: '/tmp/bester-diff' },
  ).config;
}

test('the same config changes nothing', () => {
  const changes = diffConfigs(config(), config());
  assert.deepEqual(changes.applied, []);
  assert.deepEqual(changes.restartNeeded, []);
  assert.equal(changes.limits, false);
});

test('log level and limits are applied, key by key', () => {
  const changes = diffConfigs(config(), config({ limits: { maxFrameBytes: 1024, maxLoginFrameBytes: 1024 }, log: { level: 'debug' } }));
  assert.deepEqual(changes.applied, ['log.level', 'limits.maxFrameBytes', 'limits.maxLoginFrameBytes']);
  assert.equal(changes.logLevel, true);
  assert.equal(changes.limits, true);
});

test('handlers: added, removed, restarted when their process changes, updated otherwise', () => {
  const old = config({ types: { echo: handler(), chat: handler({ unixDomainSocketPath: 'c.sock' }), gone: handler({ unixDomainSocketPath: 'g.sock' }) } });
  const next = config({
    types: {
      echo: handler({ timeoutMs: 1234 }),
      chat: handler({ unixDomainSocketPath: 'c.sock', handlerArgs: ['--verbose'] }),
      fresh: handler({ unixDomainSocketPath: 'f.sock' }),
    },
  });
  const { handlers, applied } = diffConfigs(old, next);
  assert.deepEqual(handlers, { added: ['fresh'], removed: ['gone'], restarted: ['chat'], updated: ['echo'] });
  assert.deepEqual(applied.toSorted(), ['handlers.typeMap.chat', 'handlers.typeMap.echo', 'handlers.typeMap.fresh', 'handlers.typeMap.gone']);
});

test('federation: peers by name; other settings renew every link; the node id needs a restart', () => {
  const secret = 'a-federation-secret-0123456789abcdef';
  const old = config({ federation: { nodeId: 'a', peers: { b: { secret, address: '127.0.0.1:1' }, c: { secret } } } });
  const next = config({ federation: { nodeId: 'z', ackWaitMs: 50, peers: { b: { secret, address: '127.0.0.1:2' }, d: { secret } } } });
  const changes = diffConfigs(old, next);
  assert.deepEqual(changes.peers, { added: ['d'], removed: ['c'], changed: ['b'] });
  assert.equal(changes.federationSettings, true);
  assert.ok(changes.applied.includes('federation.ackWaitMs'));
  assert.deepEqual(changes.restartNeeded, ['federation.nodeId']);
});

test('listeners are named as needing a restart', () => {
  const changes = diffConfigs(config(), config({ network: { types: ['tcp4'], tcp4: { address: '127.0.0.1', port: '2220' } } }));
  assert.deepEqual(changes.restartNeeded, ['network']);
  assert.deepEqual(changes.applied, []);
});
