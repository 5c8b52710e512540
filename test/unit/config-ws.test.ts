// The network.ws block (src/server/config/ws.ts, docs/configuration.md "network.ws"): defaults,
// paths, and every error naming its key.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { plainTextWarnings } from '../../src/server/config/coherence.ts';
import { InvalidConfigError, parseConfig } from '../../src/server/config/load.ts';

const BASE = '/srv/bester';

function listenerOf(ws: unknown): unknown {
  return parseConfig({ network: { ws } }, { baseDir: BASE }).config.listeners[0];
}

function errorsOf(ws: unknown): readonly string[] {
  try {
    parseConfig({ network: { ws } }, { baseDir: BASE });
  } catch (err) {
    assert.ok(err instanceof InvalidConfigError, String(err));
    return err.errors;
  }
  assert.fail('expected the config to be refused');
}

describe('network.ws', () => {
  test('defaults: loopback, path /bester, no extra origins, no files', () => {
    assert.deepEqual(listenerOf({ port: 8080 }), { kind: 'ws', host: '127.0.0.1', port: 8080, path: '/bester', origins: [], staticDir: null, tls: null });
  });

  test('every key: the folder resolved from the config folder, origins lower-cased and deduplicated', () => {
    const listener = listenerOf({ address: '::', port: '8443', path: '/chat/ws', origins: ['https://Chat.Example.org', 'https://chat.example.org', 'http://localhost:8080'], static: 'web' });
    assert.deepEqual(listener, { kind: 'ws', host: '::', port: 8443, path: '/chat/ws', origins: ['https://chat.example.org', 'http://localhost:8080'], staticDir: '/srv/bester/web', tls: null });
    assert.equal((listenerOf({ port: 1, static: null }) as { staticDir: unknown }).staticDir, null);
  });

  test('listed in network.types, opened in the order given', () => {
    const { config } = parseConfig({ network: { types: ['ws', 'tcp4'], ws: { port: 1 }, tcp4: { port: 2 } } }, { baseDir: BASE });
    assert.deepEqual(config.listeners.map((l) => l.kind), ['ws', 'tcp4']);
  });

  test('an unknown key is warned about ("host" is spelled "address", as in tcp4 and tcp6)', () => {
    const { warnings } = parseConfig({ network: { ws: { port: 1, host: 'a' } } }, { baseDir: BASE });
    assert.ok(warnings.some((w) => /network\.ws\.host/.test(w)), warnings.join('\n'));
  });

  test('network.wss: the same keys and the TLS material (certificate and key required)', () => {
    const { config } = parseConfig({ network: { wss: { port: 8443, certificate: 'cert.pem', key: 'key.pem' } } }, { baseDir: BASE });
    const listener = config.listeners[0] as { kind: string; tls: { certificate: string; key: string; configKey: string } | null };
    assert.equal(listener.kind, 'wss');
    assert.deepEqual([listener.tls?.certificate, listener.tls?.key, listener.tls?.configKey], ['/srv/bester/cert.pem', '/srv/bester/key.pem', 'network.wss']);
    const errors = (() => {
      try {
        parseConfig({ network: { wss: { port: 8443 } } }, { baseDir: BASE });
      } catch (err) {
        return (err as InvalidConfigError).errors;
      }
      return [];
    })();
    assert.ok(errors.some((e) => /^network\.wss\.certificate: required/.test(e)), errors.join('\n'));
    assert.ok(errors.some((e) => /^network\.wss\.key: required/.test(e)), errors.join('\n'));
  });

  test('a ws listener outside loopback is warned about (passwords in clear text); loopback and wss are not', () => {
    const warned = (network: unknown): boolean => plainTextWarnings(parseConfig({ network }, { baseDir: BASE }).config).some((w) => /^network\.ws: .*clear text.*wss/.test(w));
    assert.equal(warned({ ws: { port: 1, address: '0.0.0.0' } }), true);
    assert.equal(warned({ ws: { port: 1 } }), false);
    assert.equal(warned({ ws: { port: 1, address: '0.0.0.0' }, requireTls: true }), false);
  });

  const cases: Array<[string, unknown, RegExp]> = [
    ['missing port', {}, /^network\.ws\.port: required/],
    ['bad port', { port: 'x' }, /^network\.ws\.port: must be a port number/],
    ['path without a slash', { port: 1, path: 'bester' }, /^network\.ws\.path: must be a URL path starting with "\/"/],
    ['path with a query', { port: 1, path: '/b?x=1' }, /^network\.ws\.path: must be a URL path/],
    ['origins not an array', { port: 1, origins: 'https://a.example' }, /^network\.ws\.origins: must be an array of origins/],
    ['origin with a path', { port: 1, origins: ['https://a.example/'] }, /^network\.ws\.origins\[0\]: must be an origin/],
    ['origin of another scheme', { port: 1, origins: ['file://x'] }, /^network\.ws\.origins\[0\]: must be an origin/],
    ['origin not a string', { port: 1, origins: [7] }, /^network\.ws\.origins\[0\]: must be an origin/],
    ['static not a string', { port: 1, static: 5 }, /^network\.ws\.static: must be a path/],
  ];
  for (const [name, ws, expected] of cases) {
    test(`refused: ${name}`, () => {
      const errors = errorsOf(ws);
      assert.ok(errors.some((e) => expected.test(e)), errors.join('\n'));
    });
  }
});
