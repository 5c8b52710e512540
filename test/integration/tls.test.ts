// TLS listeners end to end (docs/security.md "TLS", docs/protocol.md §2.7): a login over TLS with
// the SDK and the CLI; a client that does not trust the server's CA, a server certificate that
// expired and a client certificate from another CA are each refused with a reason; certificates
// re-read without dropping a session; network.requireTls. Certificates are made with openssl.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { BesterError } from '../../src/protocol/errors.ts';
import { connect, isClientError } from '../../src/sdk/client.ts';
import type { ServerEventMap } from '../../src/server/events.ts';
import type { TlsListenerConfig } from '../../src/server/config/types.ts';
import { startListener, type HandshakeFailure, type PeerInfo } from '../../src/server/transport/listener.ts';
import { runBester } from '../helpers/bester-cli.ts';
import { rawConfig, startTestDaemon, tempDir, writeTestConfig, type TestDaemon } from '../helpers/daemon.ts';
import { loggedIn, message } from '../helpers/raw-client.ts';
import { makeTestPki, opensslMissing, type CertFiles, type TestPki } from '../helpers/tls.ts';

const skip = opensslMissing();

function listenerConfig(files: CertFiles, extra: Partial<TlsListenerConfig['tls']> = {}): TlsListenerConfig {
  return {
    kind: 'tls4',
    host: '127.0.0.1',
    port: 0,
    tls: { configKey: 'network.tls4', ...files, ca: null, clientCertificates: 'none', requestClientCertificate: false, minVersion: 'TLSv1.2', ...extra },
  };
}

/** Resolves once the socket's handshake is done, or rejects with its error. */
function handshake(options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', servername: 'localhost', ...options });
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
}

/** What one line-echo over `socket` answers (the listener below echoes bytes back). */
async function echo(socket: tls.TLSSocket, text: string): Promise<string> {
  const got = new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString())));
  socket.write(text);
  return got;
}

async function waitFor(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('TLS listeners', { skip: skip ?? false }, () => {
  let pki: TestPki;
  let d: TestDaemon;
  let server: string;
  const refusals: Array<ServerEventMap['connection.refused']> = [];

  before(async () => {
    pki = makeTestPki(tempDir('btls-'));
    d = await startTestDaemon({
      listeners: ['tls4', 'unix'],
      handlers: { echo: {} },
      tls: { certificate: pki.server.certificate, key: pki.server.key },
    });
    d.server.events.on('connection.refused', (e) => refusals.push(e));
    server = `tls://localhost:${d.port}`;
  });
  after(async () => {
    await d?.close();
    if (pki !== undefined) rmSync(pki.dir, { recursive: true, force: true });
  });

  test('the SDK logs in over tls:// with the CA given, and a message goes through', async () => {
    const ca = readFileSync(pki.ca.certificate, 'utf8');
    const alice = await connect({ server, username: 'alice', password: 'alice-pw', ca });
    const bob = await connect({ server, username: 'bob', password: 'bob-pw', ca });
    try {
      const deliveries = bob.deliveries();
      const report = await alice.send('echo', { to: ['bob'], text: 'over TLS' });
      assert.equal(report.status, 'good');
      const first = await deliveries.next();
      assert.deepEqual(first.value?.data, { to: ['bob'], text: 'over TLS' });
    } finally {
      await alice.close();
      await bob.close();
    }
  });

  test('a client that does not trust the server\'s CA is refused, and says why', async () => {
    const before = refusals.length;
    const ca = readFileSync(pki.otherCa.certificate, 'utf8');
    await assert.rejects(connect({ server, username: 'alice', password: 'alice-pw', ca }), (err) => {
      assert.ok(isClientError(err));
      assert.equal(err.code, 'connect_failed');
      assert.match(err.message, /not signed by a trusted CA/);
      return true;
    });
    // The system's CAs do not know the test CA either.
    await assert.rejects(connect({ server, username: 'alice', password: 'alice-pw' }), /TLS: the server's certificate/);
    await waitFor(() => refusals.length > before, 'the refused handshake to be reported');
    assert.equal(refusals.at(-1)?.code, 'tls_handshake_failed');
    assert.match(refusals.at(-1)?.reason ?? '', /does not trust this server's certificate/);
  });

  test('an address the certificate is not for is refused', async () => {
    const named = pki.issue('named-only', { cn: 'localhost', san: ['DNS:localhost'] });
    const listener = await startListener(listenerConfig(named), (stream) => stream.destroy());
    try {
      const ca = readFileSync(pki.ca.certificate, 'utf8');
      await assert.rejects(
        connect({ server: `tls://127.0.0.1:${listener.port}`, username: 'alice', password: 'alice-pw', ca }),
        /TLS: the server's certificate is not for this host name/,
      );
    } finally {
      await listener.close();
    }
  });

  test('a CA given for a plain address is refused instead of connecting in clear text', async () => {
    const ca = readFileSync(pki.ca.certificate, 'utf8');
    await assert.rejects(connect({ server: `localhost:${d.port}`, username: 'alice', password: 'alice-pw', ca }), /not a TLS address/);
  });

  test('bester send --server tls://... --ca FILE', async () => {
    const result = await runBester(['send', '--server', server, '--ca', pki.ca.certificate, '--user', 'alice', 'echo', '{"to":[]}'], {
      env: { BESTER_PASSWORD: 'alice-pw' },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /"status":"good"/);
    const wrong = await runBester(['send', '--server', server, '--ca', pki.otherCa.certificate, '--user', 'alice', 'echo', '{"to":[]}'], {
      env: { BESTER_PASSWORD: 'alice-pw' },
    });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /^bester: .*not signed by a trusted CA/);
    const plain = await runBester(['send', '--server', `localhost:${d.port}`, '--ca', pki.ca.certificate, '--user', 'alice', 'echo', '{}'], {
      env: { BESTER_PASSWORD: 'alice-pw' },
    });
    assert.notEqual(plain.code, 0);
    assert.match(plain.stderr, /--ca is for TLS servers/);
  });

  test('an expired server certificate is refused by the client, with the reason', async () => {
    const expired = pki.issue('expired-server', { cn: 'localhost', expired: true });
    const listener = await startListener(listenerConfig(expired), (stream) => stream.destroy());
    try {
      const ca = readFileSync(pki.ca.certificate, 'utf8');
      await assert.rejects(
        connect({ server: `tls://localhost:${listener.port}`, username: 'alice', password: 'alice-pw', ca }),
        /TLS: the server's certificate has expired/,
      );
    } finally {
      await listener.close();
    }
  });

  test('clientCertificates "require": a certificate from the configured CA is let in with its name; one from another CA is refused', async () => {
    const alice = pki.issue('client-alice', { cn: 'alice', usage: 'client' });
    const rogue = pki.issue('client-rogue', { cn: 'alice', usage: 'client', by: 'other' });
    const peers: PeerInfo[] = [];
    const failures: HandshakeFailure[] = [];
    const config = listenerConfig(pki.server, { ca: pki.ca.certificate, clientCertificates: 'require', requestClientCertificate: true });
    const listener = await startListener(config, (stream, peer) => {
      peers.push(peer);
      stream.pipe(stream);
    }, { onHandshakeError: (f) => failures.push(f) });
    const ca = readFileSync(pki.ca.certificate);
    try {
      const good = await handshake({ port: listener.port!, ca, cert: readFileSync(alice.certificate), key: readFileSync(alice.key) });
      assert.equal(await echo(good, 'hi'), 'hi');
      assert.equal(peers[0]?.secure, true);
      assert.equal(peers[0]?.certificateName, 'alice');
      good.destroy();
      // TLS 1.3: the client learns of the refusal after its side of the handshake, on its first read.
      const refused = async (options: tls.ConnectionOptions): Promise<void> => {
        const socket = await handshake({ port: listener.port!, ca, ...options }).catch((err: Error) => err);
        if (socket instanceof Error) return;
        await new Promise<void>((resolve) => {
          socket.on('close', () => resolve());
          socket.write('x');
        });
      };
      await refused({ cert: readFileSync(rogue.certificate), key: readFileSync(rogue.key) });
      await refused({});
      await waitFor(() => failures.length >= 2, 'two refused handshakes');
      assert.match(failures[0]!.reason, /certificate|unknown ca|verify/i);
      assert.match(failures[1]!.reason, /certificate/i);
      assert.equal(peers.length, 1, 'neither refused connection reached the handler');
    } finally {
      await listener.close();
    }
  });

  test('clientCertificates "request": a client without a certificate is let in; one whose certificate does not verify is refused', async () => {
    const alice = pki.issue('client-alice-2', { cn: 'alice', usage: 'client' });
    const rogue = pki.issue('client-rogue-2', { cn: 'alice', usage: 'client', by: 'other' });
    const peers: PeerInfo[] = [];
    const failures: HandshakeFailure[] = [];
    const config = listenerConfig(pki.server, { ca: pki.ca.certificate, clientCertificates: 'request', requestClientCertificate: true });
    const listener = await startListener(config, (stream, peer) => {
      peers.push(peer);
      stream.pipe(stream);
    }, { onHandshakeError: (f) => failures.push(f) });
    const ca = readFileSync(pki.ca.certificate);
    try {
      const anonymous = await handshake({ port: listener.port!, ca });
      assert.equal(await echo(anonymous, 'a'), 'a');
      const named = await handshake({ port: listener.port!, ca, cert: readFileSync(alice.certificate), key: readFileSync(alice.key) });
      assert.equal(await echo(named, 'b'), 'b');
      assert.deepEqual(peers.map((p) => p.certificateName), [undefined, 'alice']);
      const refused = await handshake({ port: listener.port!, ca, cert: readFileSync(rogue.certificate), key: readFileSync(rogue.key) });
      await new Promise<void>((resolve) => {
        refused.on('close', () => resolve());
        refused.write('x');
      });
      await waitFor(() => failures.length >= 1, 'the refusal');
      assert.match(failures[0]!.reason, /^client certificate refused: /);
      assert.equal(peers.length, 2, 'the refused connection did not reach the handler');
      anonymous.destroy();
      named.destroy();
    } finally {
      await listener.close();
    }
  });

  test('reload(): new connections get the new certificate, an open session goes on; unusable files keep the old one', async () => {
    const renewed = pki.issue('renewed', { cn: 'localhost-renewed', san: ['DNS:localhost'] });
    const config = listenerConfig(pki.server);
    const listener = await startListener(config, (stream) => stream.pipe(stream));
    const ca = readFileSync(pki.ca.certificate);
    try {
      const old = await handshake({ port: listener.port!, ca });
      assert.equal(old.getPeerCertificate().subject.CN, 'localhost');
      await listener.reload!(listenerConfig(renewed));
      assert.equal(await echo(old, 'still here'), 'still here', 'the open session was not dropped');
      const fresh = await handshake({ port: listener.port!, ca });
      assert.equal(fresh.getPeerCertificate().subject.CN, 'localhost-renewed');
      await assert.rejects(
        listener.reload!(listenerConfig({ certificate: renewed.certificate, key: `${renewed.key}.missing` })),
        (err) => err instanceof BesterError && err.code === 'config_invalid' && /^network\.tls4\.key: cannot read .*ENOENT/.test(err.message),
      );
      await assert.rejects(
        listener.reload!(listenerConfig({ certificate: renewed.certificate, key: pki.server.key })),
        /network\.tls4: the key does not belong to the certificate/,
      );
      const after = await handshake({ port: listener.port!, ca });
      assert.equal(after.getPeerCertificate().subject.CN, 'localhost-renewed', 'a failed reload kept the context in use');
      await assert.rejects(listener.reload!({ ...listenerConfig(renewed), port: 1 }), /only with a restart/);
      for (const s of [old, fresh, after]) s.destroy();
    } finally {
      await listener.close();
    }
  });
});

describe('certificates renewed by a reload of the daemon', { skip: skip ?? false }, () => {
  test('server.reload() with new certificate files: new connections get it, a logged-in client stays', async () => {
    const pki = makeTestPki(tempDir('bt-tlsr-'));
    const renewed = pki.issue('renewed-daemon', { cn: 'localhost-renewed', san: ['DNS:localhost'] });
    const options = { configFile: true, listeners: ['tls4', 'unix'] as const, handlers: { echo: {} }, tls: { certificate: pki.server.certificate, key: pki.server.key } };
    const d = await startTestDaemon({ ...options, listeners: [...options.listeners] });
    const ca = readFileSync(pki.ca.certificate);
    try {
      const alice = await connect({ server: `tls://localhost:${d.port}`, ca: ca.toString(), username: 'alice', password: 'alice-pw' });
      // The same config file with the renewed files.
      writeTestConfig(d.dir, rawConfig(d.dir, { ...options, listeners: [...options.listeners], tls: { certificate: renewed.certificate, key: renewed.key } }));
      const result = await d.server.reload();
      assert.ok(result.ok, JSON.stringify(result));
      assert.deepEqual(result.applied, ['network.tls4.certificate', 'network.tls4.key']);
      assert.deepEqual(result.restartNeeded, []);
      const fresh = await handshake({ port: d.port, ca });
      assert.equal(fresh.getPeerCertificate().subject.CN, 'localhost-renewed');
      fresh.destroy();
      assert.equal((await alice.send('echo', { to: ['alice'] })).status, 'good', 'the client logged in before the reload goes on');
      await alice.close();
    } finally {
      await d.close();
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });
});

describe('network.requireTls', { skip: skip ?? false }, () => {
  let pki: TestPki;
  let d: TestDaemon;
  before(async () => {
    pki = makeTestPki(tempDir('btls-'));
    d = await startTestDaemon({
      listeners: ['tcp4', 'tls4', 'unix'],
      handlers: { echo: {} },
      tls: { certificate: pki.server.certificate, key: pki.server.key },
    });
  });
  after(async () => {
    await d?.close();
    if (pki !== undefined) rmSync(pki.dir, { recursive: true, force: true });
  });

  test('password logins on plain TCP are refused with tls_required; TLS and the UNIX socket log in', async () => {
    // A daemon of its own, with requireTls on (the one above shows the default, off).
    const strict = await startTestDaemon({
      listeners: ['tcp4', 'tls4', 'unix'],
      handlers: { echo: {} },
      tls: { certificate: pki.server.certificate, key: pki.server.key },
      requireTls: true,
    });
    try {
      const tcp = strict.server.listeners.find((l) => l.kind === 'tcp4')!;
      const tlsListener = strict.server.listeners.find((l) => l.kind === 'tls4')!;
      const { client: plain, answer } = await loggedIn({ port: tcp.port! }, 'alice', 'alice-pw');
      const header = (answer as { header: { status: string; code: string; reason: string } }).header;
      assert.deepEqual([header.status, header.code], ['bad', 'tls_required']);
      assert.match(header.reason, /only over TLS/);
      assert.equal(await plain.waitClosed(), true, 'then closed');
      const { client: secure, answer: ok } = await loggedIn(
        { port: tlsListener.port!, host: '127.0.0.1', tls: { ca: readFileSync(pki.ca.certificate), servername: 'localhost' } },
        'alice',
        'alice-pw',
      );
      assert.equal((ok as { header: { status: string } }).header.status, 'good');
      const { client: local, answer: localOk } = await loggedIn({ path: strict.unixPath }, 'bob', 'bob-pw');
      assert.equal((localOk as { header: { status: string } }).header.status, 'good');
      secure.send(message('echo', 'm1', { to: ['bob'], text: 'hi' }));
      const delivery = (await local.next()) as { payload: { data: { text: string } } };
      assert.equal(delivery.payload.data.text, 'hi');
      secure.close();
      local.close();
      // The default (off) lets the plain login in.
      const { client: allowed, answer: allowedAnswer } = await loggedIn({ port: d.server.listeners.find((l) => l.kind === 'tcp4')!.port! }, 'alice', 'alice-pw');
      assert.equal((allowedAnswer as { header: { status: string } }).header.status, 'good');
      allowed.close();
    } finally {
      await strict.close();
    }
  });
});
