// The WebSocket listener against a real daemon and real `ws` clients (docs/protocol.md §1.5,
// docs/security.md "WebSocket and Origin"): sessions like over TCP (login, messages, the login
// deadline, frame limits, slow consumers), the upgrade rules (Origin, subprotocol, path), the
// files served on the same port, and WebSocket ping/pong liveness. Every wait is bounded.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { startTestDaemon, tempDir, type TestDaemon } from '../helpers/daemon.ts';
import { login, loggedIn, message, RawClient } from '../helpers/raw-client.ts';
import { makeTestPki, opensslMissing, type TestPki } from '../helpers/tls.ts';
import { dialWebSocket, HttpRefusal } from '../helpers/ws-client.ts';

type Frame = { header: Record<string, unknown>; payload: Record<string, unknown> };

const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

function wsUrl(d: TestDaemon): string {
  const listener = d.server.listeners.find((l) => l.kind === 'ws');
  assert.ok(listener?.url !== undefined, 'a ws listener with a URL');
  return listener.url;
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return check();
}

/** The WebSocket messages a raw `ws` client receives, as text, and its close code. */
function recorder(webSocket: WebSocket): { messages: string[]; closed: () => number | null; binary: () => boolean } {
  const messages: string[] = [];
  let code: number | null = null;
  let binary = false;
  webSocket.on('message', (data: Buffer, isBinary: boolean) => {
    binary ||= isBinary;
    messages.push(data.toString('utf8'));
  });
  webSocket.on('close', (c: number) => (code = c));
  return { messages, closed: () => code, binary: () => binary };
}

function get(url: string, method = 'GET'): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A request whose path is sent exactly as written (http.request would not normalise it, but URL() would). */
function rawGet(port: number, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.statusCode)));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('WebSocket listener: sessions', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startTestDaemon({
      listeners: ['tcp4', 'ws'],
      handlers: { echo: {} },
      // The login deadline is long enough for a password check on a loaded machine; its own test waits it out.
      extra: { limits: { maxLoginFrameBytes: 1024, maxFrameBytes: 4096, loginTimeoutMs: 2500 } },
    });
  });
  after(() => d.close());

  test('a ws client logs in and exchanges messages with a TCP client; each frame is one text message', async () => {
    const alice = await loggedIn({ url: wsUrl(d) }, 'alice', 'alice-pw');
    open.push(alice.client);
    assert.equal((alice.answer as Frame).header.status, 'good', JSON.stringify(alice.answer));
    const bob = await loggedIn({ port: d.port }, 'bob', 'bob-pw');
    open.push(bob.client);
    alice.client.send(message('echo', 'm1', { to: ['bob'], text: 'from the browser side' }));
    const delivery = (await bob.client.next()) as Frame;
    assert.equal((delivery.payload.data as { text: string }).text, 'from the browser side');
    assert.equal(((await alice.client.next()) as Frame).header.status, 'good');
    bob.client.send(message('echo', 'm2', { to: ['alice'], text: 'back' }));
    const back = (await alice.client.next()) as Frame;
    assert.equal((back.payload.data as { text: string }).text, 'back');

    // On the wire: no length prefix, text messages, one message per frame.
    const { webSocket } = await dialWebSocket(wsUrl(d));
    open.push({ close: () => webSocket.terminate() });
    const seen = recorder(webSocket);
    webSocket.send(JSON.stringify(login('carol', 'carol-pw')));
    assert.ok(await waitFor(() => seen.messages.length > 0, 5000), 'an answer');
    assert.equal(seen.binary(), false, 'text messages');
    const answer = JSON.parse(seen.messages[0]!) as Frame;
    assert.equal(answer.header.status, 'good', seen.messages[0]);
    const peer = [...d.server.registry.connectionsOf('carol')];
    assert.equal(peer.length, 1);
  });

  test('the subprotocol is bester.v1; a client offering none is accepted, one offering only others gets 400', async () => {
    const { webSocket } = await dialWebSocket(wsUrl(d));
    open.push({ close: () => webSocket.terminate() });
    assert.equal(webSocket.protocol, 'bester.v1');
    const bare = await dialWebSocket(wsUrl(d), { protocols: [] });
    open.push({ close: () => bare.webSocket.terminate() });
    assert.equal(bare.webSocket.protocol, '');
    await assert.rejects(dialWebSocket(wsUrl(d), { protocols: ['mqtt'] }), (err) => err instanceof HttpRefusal && err.status === 400);
    await assert.rejects(dialWebSocket(wsUrl(d).replace('/bester', '/other')), (err) => err instanceof HttpRefusal && err.status === 404);
  });

  test('a login frame over the login limit gets frame_too_large like over TCP, then the close', async () => {
    const answers: Frame[] = [];
    for (const target of [{ port: d.port }, { url: wsUrl(d) }]) {
      const client = await RawClient.connect(target);
      open.push(client);
      client.send(login('alice', 'x'.repeat(2000)));
      answers.push((await client.next()) as Frame);
      assert.equal(await client.waitClosed(), true, 'closed after the error');
    }
    assert.equal(answers[0]!.header.code, 'frame_too_large', JSON.stringify(answers[0]));
    assert.deepEqual(answers[1], answers[0], 'the same error frame over WebSocket as over TCP');
  });

  test('an oversize message after login gets frame_too_large, then a normal close (the cap of ws itself is twice the limit)', async () => {
    const { webSocket } = await dialWebSocket(wsUrl(d));
    open.push({ close: () => webSocket.terminate() });
    const seen = recorder(webSocket);
    webSocket.send(JSON.stringify(login('alice', 'alice-pw')));
    assert.ok(await waitFor(() => seen.messages.length === 1, 5000));
    webSocket.send(JSON.stringify(message('echo', 'big', { to: [], pad: 'y'.repeat(9000) })));
    assert.ok(await waitFor(() => seen.closed() !== null, 5000), 'closed');
    const error = JSON.parse(seen.messages[1] ?? 'null') as Frame | null;
    assert.equal(error?.header.code, 'frame_too_large', seen.messages[1]);
    assert.equal(seen.closed(), 1000);
  });

  test('the login deadline applies: a WebSocket that sends nothing gets login_timeout, then the close', async () => {
    const client = await RawClient.connect({ url: wsUrl(d) });
    open.push(client);
    const answer = (await client.next(10_000)) as Frame;
    assert.equal(answer.header.code, 'login_timeout', JSON.stringify(answer));
    assert.equal(await client.waitClosed(), true);
  });

  test('a message that is not JSON, or not UTF-8, gets malformed_json like over TCP', async () => {
    for (const bytes of [Buffer.from('{"header":'), Buffer.from([0x22, 0xff, 0x22])]) {
      const { webSocket } = await dialWebSocket(wsUrl(d));
      open.push({ close: () => webSocket.terminate() });
      const seen = recorder(webSocket);
      webSocket.send(bytes, { binary: false });
      assert.ok(await waitFor(() => seen.closed() !== null, 5000), 'closed');
      assert.equal((JSON.parse(seen.messages[0] ?? 'null') as Frame | null)?.header.code, 'malformed_json', seen.messages[0]);
    }
  });
});

describe('WebSocket listener: Origin, files, liveness, slow consumers', () => {
  let d: TestDaemon;
  let site = '';
  const siteDir = tempDir('bws-');
  const refusals: Array<{ transport: string; reason: string }> = [];
  before(async () => {
    const dir = path.join(siteDir, 'site');
    mkdirSync(path.join(dir, 'js'), { recursive: true });
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>chat</title>');
    writeFileSync(path.join(dir, 'js', 'app.js'), 'export {};');
    writeFileSync(path.join(dir, 'style.css'), 'body{}');
    writeFileSync(path.join(dir, '.secret'), 'hidden');
    writeFileSync(path.join(path.dirname(dir), 'outside.txt'), 'outside');
    symlinkSync(path.join(path.dirname(dir), 'outside.txt'), path.join(dir, 'link.txt'));
    d = await startTestDaemon({
      listeners: ['ws'],
      handlers: { fan: {} },
      users: { alice: 'alice-pw', r: 'r-pw' },
      extra: {
        network: { types: ['ws'], ws: { address: '127.0.0.1', port: 0, origins: ['https://chat.example.org'], static: dir } },
        liveness: { pingIntervalMs: 150, maxMissedPings: 1 },
        limits: { maxHandlerFrameBytes: 65_536, maxOutboundBytes: 256 * 1024, writeStallMs: 600, maxSessionsPerUser: 8 },
      },
    });
    d.server.events.on('transport.refused', (e) => refusals.push(e));
    site = wsUrl(d).replace('ws://', 'http://').replace('/bester', '');
  });
  after(async () => {
    await d.close();
    rmSync(siteDir, { recursive: true, force: true });
  });

  test('a browser Origin not listed is refused with 403 and reported; listed, own and absent origins are accepted', async () => {
    await assert.rejects(dialWebSocket(wsUrl(d), { origin: 'https://evil.example' }), (err) => err instanceof HttpRefusal && err.status === 403);
    assert.ok(await waitFor(() => refusals.length === 1, 2000), 'a transport.refused event');
    assert.equal(refusals[0]?.transport, 'ws');
    assert.match(refusals[0]?.reason ?? '', /evil\.example/);
    for (const origin of ['https://chat.example.org', site, undefined]) {
      const client = await RawClient.connect({ url: wsUrl(d), ...(origin === undefined ? {} : { origin }) });
      open.push(client);
      client.send(login('alice', 'alice-pw'));
      assert.equal(((await client.next()) as Frame).header.status, 'good', `origin ${origin}`);
    }
  });

  test('files are served with their types on the same port; traversal, hidden files and links out are refused', async () => {
    const index = await get(`${site}/`);
    assert.deepEqual([index.status, index.type], [200, 'text/html; charset=utf-8']);
    assert.match(index.body, /<title>chat/);
    assert.equal((await get(`${site}/js/app.js`)).type, 'text/javascript; charset=utf-8');
    assert.equal((await get(`${site}/style.css`)).type, 'text/css; charset=utf-8');
    const head = await get(`${site}/index.html`, 'HEAD');
    assert.deepEqual([head.status, head.body], [200, '']);
    assert.equal((await get(`${site}/index.html`, 'POST')).status, 405);
    assert.equal((await get(`${site}/missing.html`)).status, 404);
    assert.equal((await get(`${site}/bester`)).status, 426, 'the endpoint answers plain HTTP with Upgrade Required');
    const port = new URL(site).port;
    for (const target of ['/../outside.txt', '/%2e%2e/outside.txt', '/js/..%2f..%2foutside.txt', '/.secret', '/link.txt', '/%00']) {
      assert.equal(await rawGet(Number(port), target), '404', target);
    }
  });

  test('WebSocket liveness: a client that stops answering pings is closed; one that answers stays', async () => {
    const silent = await dialWebSocket(wsUrl(d), { autoPong: false });
    open.push({ close: () => silent.webSocket.terminate() });
    const lively = await dialWebSocket(wsUrl(d));
    open.push({ close: () => lively.webSocket.terminate() });
    let pings = 0;
    lively.webSocket.on('ping', () => pings++);
    const gone = recorder(silent.webSocket);
    const stays = recorder(lively.webSocket);
    // 150 ms per look, one missed ping allowed: gone after about three looks.
    assert.ok(await waitFor(() => gone.closed() !== null, 3000), 'the silent client is closed');
    assert.equal(stays.closed(), null, 'the answering client is still open');
    assert.ok(pings >= 1, `the answering client was pinged (${pings})`);
  });

  test('a WebSocket reader that stops reading is cut off as a slow consumer', async () => {
    const frozen = await loggedIn({ url: wsUrl(d) }, 'r', 'r-pw');
    open.push(frozen.client);
    assert.equal((frozen.answer as Frame).header.status, 'good');
    frozen.client.socket.pause();
    const sender = await loggedIn({ url: wsUrl(d) }, 'alice', 'alice-pw');
    open.push(sender.client);
    const pad = 'z'.repeat(3000);
    let sent = 0;
    // Bounded: the cap is 256 KiB, each delivery ~3 KB; the stall timer cuts it in 600 ms at the latest.
    while (d.server.registry.connectionsOf('r').size > 0 && sent < 2000) {
      sender.client.send(message('fan', `m${sent++}`, { to: ['r'], pad }));
      if (sent % 20 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(await waitFor(() => d.server.registry.connectionsOf('r').size === 0, 5000), `cut off (after ${sent} messages)`);
    frozen.client.socket.resume();
    assert.equal(await frozen.client.waitClosed(5000), true);
  });
});


describe('wss: WebSocket over TLS', () => {
  let d: TestDaemon;
  let pki: TestPki;
  const skip = opensslMissing();
  before(async () => {
    if (skip !== null) return;
    pki = makeTestPki(tempDir('bwss-'));
    const site = path.join(pki.dir, 'site');
    mkdirSync(site);
    writeFileSync(path.join(site, 'index.html'), '<!doctype html><title>secure chat</title>');
    const material = { certificate: pki.server.certificate, key: pki.server.key };
    d = await startTestDaemon({
      listeners: ['ws', 'wss'],
      extra: {
        network: {
          types: ['ws', 'wss'],
          requireTls: true,
          ws: { address: '127.0.0.1', port: 0 },
          wss: { address: '127.0.0.1', port: 0, static: site, ...material },
        },
      },
    });
  });
  after(async () => {
    if (skip !== null) return;
    await d.close();
    rmSync(pki.dir, { recursive: true, force: true });
  });

  test('files over HTTPS and sessions over wss on one port; network.requireTls refuses passwords on ws but not on wss', async (t) => {
    if (skip !== null) return t.skip(skip);
    const ca = readFileSync(pki.ca.certificate);
    const wss = d.server.listeners.find((l) => l.kind === 'wss');
    const url = wss?.url ?? '';
    assert.ok(url.startsWith('wss://127.0.0.1:'), url);
    const page = await new Promise<string>((resolve, reject) => {
      const req = https.get({ host: '127.0.0.1', port: wss?.port ?? 0, path: '/', ca, servername: 'localhost' }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
    });
    assert.match(page, /secure chat/);
    const secure = await loggedIn({ url, tls: { ca, servername: 'localhost' } }, 'alice', 'alice-pw');
    open.push(secure.client);
    assert.equal((secure.answer as Frame).header.status, 'good', JSON.stringify(secure.answer));
    const plain = await loggedIn({ url: wsUrl(d) }, 'bob', 'bob-pw');
    open.push(plain.client);
    assert.equal((plain.answer as Frame).header.code, 'tls_required', JSON.stringify(plain.answer));
    // A client that does not trust the certificate never gets to the upgrade.
    await assert.rejects(dialWebSocket(url, { tls: { servername: 'localhost' } }));
  });
});
