// TLS in the config (docs/configuration.md "TLS material", network.requireTls): tls4/tls6 blocks,
// their checks, and the warning about passwords in clear text on a network.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { plainTextWarnings } from '../../src/server/config/coherence.ts';
import { InvalidConfigError, parseConfig } from '../../src/server/config/load.ts';

const BASE = '/srv/bester';

function parse(raw: Record<string, unknown>): ReturnType<typeof parseConfig> {
  return parseConfig(raw, { baseDir: BASE });
}

function errors(raw: Record<string, unknown>): readonly string[] {
  try {
    parse(raw);
  } catch (err) {
    if (err instanceof InvalidConfigError) return err.errors;
    throw err;
  }
  assert.fail('expected the config to be refused');
}

describe('network.tls4 and network.tls6', () => {
  test('a block with certificate and key: paths from the config folder, defaults filled in', () => {
    const { config, warnings } = parse({
      network: {
        tls4: { port: 2230, address: '127.0.0.1', certificate: 'tls/cert.pem', key: '/etc/bester/key.pem' },
        tls6: { port: '2231', certificate: 'c.pem', key: 'k.pem', ca: 'ca.pem', clientCertificates: 'require', minVersion: 'TLSv1.3' },
      },
    });
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.listeners[0], {
      kind: 'tls4',
      host: '127.0.0.1',
      port: 2230,
      tls: {
        configKey: 'network.tls4',
        certificate: path.join(BASE, 'tls/cert.pem'),
        key: '/etc/bester/key.pem',
        ca: null,
        clientCertificates: 'none',
        requestClientCertificate: false,
        minVersion: 'TLSv1.2',
      },
    });
    const six = config.listeners[1];
    assert.equal(six?.kind, 'tls6');
    if (six?.kind !== 'tls6') return;
    assert.equal(six.host, '::');
    assert.deepEqual(
      [six.tls.ca, six.tls.clientCertificates, six.tls.requestClientCertificate, six.tls.minVersion],
      [path.join(BASE, 'ca.pem'), 'require', true, 'TLSv1.3'],
    );
    assert.equal(config.requireTls, false);
  });

  test('what is refused, naming the key', () => {
    const found = errors({
      network: {
        types: ['tls4', 'tls6'],
        tls4: { port: 1, clientCertificates: 'maybe', minVersion: 'TLSv1.1' },
        tls6: { port: 2, address: '127.0.0.1', certificate: 'c', key: 'k', clientCertificates: 'request' },
      },
    });
    assert.deepEqual(found, [
      'network.tls4.certificate: required: the path of the PEM certificate (chain) this end presents',
      'network.tls4.key: required: the path of the PEM private key of that certificate',
      'network.tls4.clientCertificates: must be one of "none", "request", "require", got "maybe"',
      'network.tls4.minVersion: must be one of "TLSv1.2", "TLSv1.3", got "TLSv1.1"',
      'network.tls6.address: "127.0.0.1" is an IPv4 address: put it under network.tls4',
      'network.tls6.ca: required when clientCertificates is "request": the CAs whose client certificates are accepted',
    ]);
  });

  test('a CA without client certificates asked for is warned about as unused', () => {
    const { warnings } = parse({ network: { tls4: { port: 1, address: '127.0.0.1', certificate: 'c', key: 'k', ca: 'ca.pem' } } });
    assert.deepEqual(warnings, ['network.tls4.ca: unused: clientCertificates is "none", so no client certificate is asked for']);
  });
});

describe('network.requireTls and plain TCP on a network', () => {
  test('plain TCP on a non-loopback address is warned about; loopback and requireTls are not', () => {
    const open = parse({ network: { tcp4: { port: 2220 }, tcp6: { port: 2221, address: '::1' } } });
    assert.deepEqual(open.warnings, [], 'not a problem of the file: said at start and by --check');
    assert.deepEqual(plainTextWarnings(open.config), [
      'network.tcp4: listens on 0.0.0.0, not only on this machine, and passwords cross it in clear text; use a tls4/tls6 listener, or set network.requireTls to refuse password logins on plain TCP',
    ]);
    const strict = parse({ network: { requireTls: true, tcp4: { port: 2220 } } });
    assert.deepEqual(plainTextWarnings(strict.config), []);
    assert.equal(strict.config.requireTls, true);
    assert.deepEqual(plainTextWarnings(parse({ network: { tcp4: { port: 2220, address: '127.0.0.1' } } }).config), []);
  });

  test('requireTls must be true or false', () => {
    assert.deepEqual(errors({ network: { requireTls: 'yes', tcp4: { port: 1, address: '127.0.0.1' } } }), [
      'network.requireTls: must be true or false, got "yes"',
    ]);
  });
});

describe('federation.peers.NAME.tls', () => {
  const base = { network: { unix: { address: 'b.sock' } } };
  const peer = (tls: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    ...base,
    federation: { peers: { b: { address: 'b.example:2230', secret: 'x'.repeat(32), tls, ...extra } } },
  });

  test('true, or an object: paths from the config folder, the pin in the form Node.js gives', () => {
    assert.deepEqual(parse(peer(true)).config.federation.peers.get('b')?.tls, {
      configKey: 'federation.peers.b.tls', ca: null, fingerprint: null, certificate: null, key: null, serverName: null,
    });
    const hex = 'ab'.repeat(32);
    const { config, warnings } = parse(peer({ ca: 'ca.pem', fingerprint: hex, certificate: 'a.pem', key: 'a.key', serverName: 'b.internal' }));
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.federation.peers.get('b')?.tls, {
      configKey: 'federation.peers.b.tls',
      ca: path.join(BASE, 'ca.pem'),
      fingerprint: Array(32).fill('AB').join(':'),
      certificate: path.join(BASE, 'a.pem'),
      key: path.join(BASE, 'a.key'),
      serverName: 'b.internal',
    });
    assert.equal(parse(peer(false)).config.federation.peers.get('b')?.tls, null);
    assert.equal(parse(peer(undefined)).config.federation.peers.get('b')?.tls, null);
  });

  test('what is refused', () => {
    assert.deepEqual(errors(peer({ fingerprint: 'abc', certificate: 'a.pem' })), [
      'federation.peers.b.tls: give "certificate" and "key" together (our client certificate, for a peer that asks for one), or neither',
      'federation.peers.b.tls.fingerprint: must be a SHA-256 fingerprint: 64 hex digits, colons allowed (`openssl x509 -noout -fingerprint -sha256 -in cert.pem`), got "abc"',
    ]);
    assert.deepEqual(errors(peer(true, { legacy: true })), [
      "federation.peers.b.tls: a legacy peer speaks the original's plain TCP: TLS is for peers that speak ours",
    ]);
  });
});
