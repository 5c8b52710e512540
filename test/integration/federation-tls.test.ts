// Federation over TLS (docs/federation.md §3.8) between real daemons: mutual TLS end to end (the
// receiver's tls4 listener requires a client certificate from its CA), a pinned fingerprint, and
// refusals with a logged reason: a peer certificate from a CA we do not trust, a pin that does not
// match, and our client certificate from a CA the receiver does not trust.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';
import { parseConfig } from '../../src/server/config/load.ts';
import { startServer, type BesterServer } from '../../src/server/server.ts';
import { rawConfig, tempDir } from '../helpers/daemon.ts';
import { captureLogger, ROUTE_HANDLER, SECRET, waitFor } from '../helpers/federation.ts';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';
import { makeTestPki, opensslMissing, type CertFiles, type TestPki } from '../helpers/tls.ts';

type Frame = { header: Record<string, unknown>; payload: Record<string, unknown> };

interface Node {
  readonly server: BesterServer;
  readonly lines: Array<Record<string, unknown>>;
  readonly dir: string;
  /** The plain listener users log in on. */
  readonly port: number;
  /** The TLS listener peers link to, when it has one. */
  readonly tlsPort: number | null;
}

const nodes: Node[] = [];

/** A daemon with a tcp4 listener for users and, when `tls` is given, a tls4 listener for peers. */
async function startNode(name: string, users: readonly string[], federation: Record<string, unknown>, tls?: Record<string, unknown>): Promise<Node> {
  const dir = tempDir('bft-');
  const raw = rawConfig(dir, {
    listeners: tls === undefined ? ['tcp4'] : ['tcp4', 'tls4'],
    handlers: { M1: { binary: process.execPath, args: [ROUTE_HANDLER] } },
    ...(tls === undefined ? {} : { tls }),
    extra: { federation: { nodeId: name, heartbeatMs: 500, reconnectDelayMs: 50, maxReconnectDelayMs: 300, ...federation } },
  });
  const { config } = parseConfig(raw, { baseDir: dir });
  if (config.accounts.kind !== 'sqlite') throw new Error('sqlite expected');
  const store = await openSqliteAccountStore(config.accounts.path);
  for (const user of users) await store.add(user, `${user}-pw`);
  await store.close();
  const { logger, lines } = captureLogger();
  const server = await startServer(config, { logger });
  const node: Node = {
    server,
    lines,
    dir,
    port: server.listeners.find((l) => l.kind === 'tcp4')!.port!,
    tlsPort: server.listeners.find((l) => l.kind === 'tls4')?.port ?? null,
  };
  nodes.push(node);
  return node;
}

async function user(node: Node, name: string): Promise<RawClient> {
  const { client, answer } = await loggedIn({ port: node.port }, name, `${name}-pw`);
  assert.equal((answer as Frame).header.status, 'good');
  return client;
}

const skip = opensslMissing();

describe('federation over TLS', { skip: skip ?? false }, () => {
  let pki: TestPki;
  let receiver: Node;
  let bob: RawClient;
  let clientA: CertFiles;
  const route = [{ sendServers: ['b'] }, { sendClients: ['bob'] }];

  before(async () => {
    pki = makeTestPki(tempDir('bftp-'));
    const serverB = pki.issue('node-b', { cn: 'node-b' });
    clientA = pki.issue('node-a-client', { cn: 'node-a', usage: 'client' });
    // b takes links from a only over mutual TLS: its tls4 listener requires a client certificate from the CA.
    receiver = await startNode('b', ['bob'], { peers: { a: { secret: SECRET }, a2: { secret: SECRET }, a3: { secret: SECRET }, a4: { secret: SECRET }, a5: { secret: SECRET } } }, {
      certificate: serverB.certificate,
      key: serverB.key,
      ca: pki.ca.certificate,
      clientCertificates: 'require',
    });
    bob = await user(receiver, 'bob');
  });
  after(async () => {
    bob?.close();
    for (const n of nodes) {
      await n.server.close();
      rmSync(n.dir, { recursive: true, force: true });
    }
    if (pki !== undefined) rmSync(pki.dir, { recursive: true, force: true });
  });

  test('mutual TLS end to end: a message crosses to the peer and is delivered', async () => {
    const a = await startNode('a', ['alice'], {
      peers: { b: { address: `127.0.0.1:${receiver.tlsPort}`, secret: SECRET, tls: { ca: pki.ca.certificate, certificate: clientA.certificate, key: clientA.key } } },
    });
    const alice = await user(a, 'alice');
    alice.send(message('M1', 'tls-1', { route, text: 'over mutual TLS' }));
    const report = (await alice.next(10_000)) as Frame;
    assert.equal(report.header.status, 'good', JSON.stringify(report));
    assert.deepEqual(report.header.servers, { b: 'delivered' });
    const got = (await bob.next(10_000)) as Frame;
    assert.equal((got.payload.data as { text: string }).text, 'over mutual TLS');
    alice.close();
  });

  test('a pinned fingerprint is enough to trust the peer; a wrong pin is refused with the reason logged', async () => {
    const pin = new X509Certificate(readFileSync(pki.issue('node-b-pin-check', { cn: 'x' }).certificate)).fingerprint256;
    const right = new X509Certificate(readFileSync(`${pki.dir}/node-b.pem`)).fingerprint256;
    const a2 = await startNode('a2', ['alice'], {
      peers: { b: { address: `127.0.0.1:${receiver.tlsPort}`, secret: SECRET, tls: { fingerprint: pin, certificate: clientA.certificate, key: clientA.key } } },
    });
    const alice = await user(a2, 'alice');
    alice.send(message('M1', 'pin-1', { route, text: 'never sent to an impostor' }));
    const report = (await alice.next(10_000)) as Frame;
    assert.deepEqual(report.header.servers, { b: 'queued' }, 'the link did not come up');
    await waitFor(() => a2.lines.some((l) => /does not verify/.test(String(l.msg))), 10_000, 'the refusal to be logged');
    const line = a2.lines.find((l) => /does not verify/.test(String(l.msg)))!;
    assert.match(String(line.reason), new RegExp(`fingerprint ${right} is not the pinned ${pin}`));
    assert.equal(line.peer, 'b');
    alice.close();
    await a2.server.close();

    // The right pin, no CA: the link comes up and the waiting message is delivered.
    const a4 = await startNode('a4', ['alice'], {
      peers: { b: { address: `127.0.0.1:${receiver.tlsPort}`, secret: SECRET, tls: { fingerprint: right.toLowerCase(), certificate: clientA.certificate, key: clientA.key } } },
    });
    const alice4 = await user(a4, 'alice');
    alice4.send(message('M1', 'pin-2', { route, text: 'pinned' }));
    const ok = (await alice4.next(10_000)) as Frame;
    assert.deepEqual(ok.header.servers, { b: 'delivered' }, JSON.stringify(ok));
    const got = (await bob.next(10_000)) as Frame;
    assert.equal((got.payload.data as { text: string }).text, 'pinned');
    alice4.close();
  });

  test('a peer certificate from a CA we do not trust is refused; so is our client certificate from a CA the peer does not trust', async () => {
    const rogueClient = pki.issue('node-a3-rogue', { cn: 'node-a3', usage: 'client', by: 'other' });
    const a3 = await startNode('a3', ['alice'], {
      peers: {
        // We trust only the other CA: b's certificate does not verify.
        b: { address: `127.0.0.1:${receiver.tlsPort}`, secret: SECRET, tls: { ca: pki.otherCa.certificate, certificate: clientA.certificate, key: clientA.key } },
      },
    });
    const alice = await user(a3, 'alice');
    alice.send(message('M1', 'ca-1', { route, text: 'x' }));
    const report = (await alice.next(10_000)) as Frame;
    assert.deepEqual(report.header.servers, { b: 'queued' });
    await waitFor(() => a3.lines.some((l) => /does not verify/.test(String(l.msg))), 10_000, 'the refusal to be logged');
    const line = a3.lines.find((l) => /does not verify/.test(String(l.msg)))!;
    assert.match(String(line.reason), /unable to verify|self.signed|certificate/i);
    alice.close();
    await a3.server.close();

    // Our side trusts b, but presents a client certificate b's CA did not sign: b refuses the handshake.
    const before = receiver.lines.length;
    const a5 = await startNode('a5', ['alice'], {
      peers: { b: { address: `127.0.0.1:${receiver.tlsPort}`, secret: SECRET, tls: { ca: pki.ca.certificate, certificate: rogueClient.certificate, key: rogueClient.key } } },
    });
    const alice5 = await user(a5, 'alice');
    alice5.send(message('M1', 'ca-2', { route, text: 'x' }));
    const refused = (await alice5.next(10_000)) as Frame;
    assert.deepEqual(refused.header.servers, { b: 'queued' });
    await waitFor(
      () => receiver.lines.slice(before).some((l) => l.code === 'tls_handshake_failed'),
      10_000,
      'the receiver to log the refused handshake',
    );
    const refusal = receiver.lines.slice(before).find((l) => l.code === 'tls_handshake_failed')!;
    assert.match(String(refusal.reason), /certificate/i);
    alice5.close();
  });
});
