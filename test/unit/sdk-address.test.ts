// Server addresses as people write them (src/sdk/address.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { formatServerAddress, parseServerAddress, toServerAddress } from '../../src/sdk/address.ts';

describe('parseServerAddress', () => {
  test('the forms it reads', () => {
    const cases: Array<[string, unknown]> = [
      ['127.0.0.1:2220', { host: '127.0.0.1', port: 2220 }],
      ['localhost:1', { host: 'localhost', port: 1 }],
      [' example.org:65535 ', { host: 'example.org', port: 65535 }],
      ['[::1]:2221', { host: '::1', port: 2221 }],
      ['[fe80::1%eth0]:2221', { host: 'fe80::1%eth0', port: 2221 }],
      ['unix:/run/bester.sock', { path: '/run/bester.sock' }],
      ['unix:relative.sock', { path: 'relative.sock' }],
      ['/abs/bester.sock', { path: '/abs/bester.sock' }],
      // The daemon's listener addresses (serverInfo, logs).
      ['tcp4://127.0.0.1:2220', { host: '127.0.0.1', port: 2220 }],
      ['tcp6://[::1]:2221', { host: '::1', port: 2221 }],
      ['unix:///run/bester.sock', { path: '/run/bester.sock' }],
    ];
    for (const [text, expected] of cases) assert.deepEqual(parseServerAddress(text), expected, text);
  });

  test('what it refuses, and why', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /it is empty/],
      ['localhost', /expected HOST:PORT, \[IPv6\]:PORT or unix:PATH/],
      ['localhost:', /the port is missing/],
      [':2220', /the host is empty/],
      ['host:http', /the port "http" is not a number/],
      ['host:0', /the port 0 is out of range/],
      ['host:65536', /the port 65536 is out of range/],
      ['host:-1', /not a number/],
      ['::1:2221', /put an IPv6 address in brackets/],
      ['[::1:2221', /missing "]"/],
      ['[::1]2221', /expected ":PORT" after "]"/],
      ['[]:1', /the host is empty/],
      ['unix:', /the socket path is empty/],
      [`unix:/${'x'.repeat(110)}`, /the socket path is 111 bytes long \(at most 107\)/],
      ['a b:1', /is not a host name/],
    ];
    for (const [text, pattern] of cases) {
      assert.throws(() => parseServerAddress(text), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'bad_address', text);
        assert.match(err.message, /^bad server address /);
        assert.match(err.message, pattern, text);
        return true;
      });
    }
  });

  test('objects are checked the same way', () => {
    assert.deepEqual(toServerAddress({ host: '::1', port: 5 }), { host: '::1', port: 5 });
    assert.deepEqual(toServerAddress({ path: '/x.sock' }), { path: '/x.sock' });
    assert.throws(() => toServerAddress({ host: 'h', port: 1.5 }), { code: 'bad_address' });
    assert.throws(() => toServerAddress({ host: '', port: 1 }), { code: 'bad_address' });
    assert.throws(() => toServerAddress({ path: '' }), { code: 'bad_address' });
  });

  test('format then parse gives the address back', () => {
    const host = fc.oneof(
      fc.ipV4(),
      fc.ipV6(),
      fc.domain(),
    );
    fc.assert(
      fc.property(host, fc.integer({ min: 1, max: 65535 }), (h, port) => {
        assert.deepEqual(parseServerAddress(formatServerAddress({ host: h, port })), { host: h, port });
      }),
    );
    assert.equal(formatServerAddress({ host: '::1', port: 2231, tls: true }), 'tls://[::1]:2231');
    assert.deepEqual(parseServerAddress('tls://[::1]:2231'), { host: '::1', port: 2231, tls: true });
    assert.deepEqual(toServerAddress({ host: 'example.org', port: 2230, tls: true }), { host: 'example.org', port: 2230, tls: true });
    assert.equal(formatServerAddress({ path: '/a b.sock' }), 'unix:/a b.sock');
    assert.deepEqual(parseServerAddress(formatServerAddress({ path: '/a b.sock' })), { path: '/a b.sock' });
  });
});
