// The informer client (src/sdk/informer.ts) against a scripted informer on a temp UNIX socket,
// speaking docs/protocol.md §9: answers matched in order, status "1", timeouts, closes.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { encodeFrame, encodeJsonFrame, FrameDecoder, parseFrameJson } from '../../src/protocol/frame.ts';
import { ClientError, connectInformer, InformerError } from '../../src/sdk/informer.ts';

type Request = { command: { type: string; data: unknown } };
/** What the scripted informer answers to one request: a value to encode, raw bytes, or nothing. */
type Script = (request: Request, socket: net.Socket) => unknown;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A fake informer; returns its socket path and the requests it received. */
async function fakeInformer(script: Script): Promise<{ path: string; requests: Request[] }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bti-'));
  const socketPath = path.join(dir, 'informer.sock');
  const requests: Request[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    const decoder = new FrameDecoder(
      {
        frame: (body) => {
          const request = parseFrameJson(body) as Request;
          requests.push(request);
          const answer = script(request, socket);
          if (Buffer.isBuffer(answer)) socket.write(answer);
          else if (answer !== undefined) socket.write(encodeFrame(answer));
        },
        error: () => socket.destroy(),
      },
      1024 * 1024,
    );
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  });
  server.listen(socketPath);
  await once(server, 'listening');
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });
  return { path: socketPath, requests };
}

const INFO = {
  clientCount: '2',
  adminInfo: { name: 'test' },
  listeners: { listener0: { address: 'tcp4://127.0.0.1:2220' }, listener1: { address: 'unix:///tmp/b.sock' } },
  version: '0.1.0',
  startedAt: '2025-01-01T00:00:00.000Z',
  uptimeSeconds: 12,
  connections: 2,
  users: 1,
  handlers: [{ type: 'chat', state: 'ready', pid: 42, restarts: 0, managed: true }],
  informer: '/tmp/informer.sock',
};

function standard(request: Request): unknown {
  const { type, data } = request.command;
  switch (type) {
    case 'listClients':
      return { status: '0', data: ['alice', 'bob'] };
    case 'isClient':
      return { status: '0', data: data === 'alice' };
    case 'serverInfo':
      return { status: '0', data: INFO };
    case 'sendClients':
      return { status: '0', data: { delivered: ['alice'], undelivered: ['carol'] } };
    default:
      return { status: '1', data: null, error: `unknown command ${JSON.stringify(type)}` };
  }
}

async function client(script: Script = standard, options: { timeoutMs?: number } = {}) {
  const fake = await fakeInformer(script);
  const informer = await connectInformer(fake.path, options);
  cleanups.push(() => informer.close());
  return { informer, requests: fake.requests, path: fake.path };
}

describe('informer client', () => {
  test('each command sends the request of §9.2 and reads its answer', async () => {
    const { informer, requests } = await client();
    assert.deepEqual(await informer.listClients(), ['alice', 'bob']);
    assert.equal(await informer.isClient('alice'), true);
    assert.equal(await informer.isClient('bob'), false);
    assert.deepEqual(await informer.serverInfo(), INFO);
    assert.deepEqual(await informer.sendClients(['alice', 'carol'], 'sensor', { t: 21.5 }), { delivered: ['alice'], undelivered: ['carol'] });
    assert.deepEqual(requests, [
      { command: { type: 'listClients', data: null } },
      { command: { type: 'isClient', data: 'alice' } },
      { command: { type: 'isClient', data: 'bob' } },
      { command: { type: 'serverInfo', data: null } },
      { command: { type: 'sendClients', data: { users: ['alice', 'carol'], type: 'sensor', data: { t: 21.5 } } } },
    ]);
  });

  test('many requests in flight are matched in order', async () => {
    const { informer } = await client((request) => ({ status: '0', data: request.command.data }));
    const answers = await Promise.all([1, 2, 3, 4, 5].map((n) => informer.request('echo', n)));
    assert.deepEqual(answers, [1, 2, 3, 4, 5]);
  });

  test('status "1" rejects with InformerError carrying the error text', async () => {
    const { informer } = await client();
    const err = await informer.request('shutdown').then(() => null, (e: unknown) => e);
    assert.ok(err instanceof InformerError);
    assert.ok(err instanceof ClientError);
    assert.equal(err.code, 'informer_error');
    assert.equal(err.message, 'unknown command "shutdown"');
    assert.deepEqual(await informer.listClients(), ['alice', 'bob'], 'the connection stays usable');
  });

  test("an original informer's answers (no error text, a numeric clientCount) are read", async () => {
    const { informer } = await client((request) =>
      request.command.type === 'serverInfo'
        ? { status: '0', data: { clientCount: 3, adminInfo: null, listeners: { listener0: { address: 'tcp4://0.0.0.0:2223' } } } }
        : { status: '1', data: null },
    );
    assert.deepEqual(await informer.serverInfo(), { clientCount: '3', adminInfo: null, listeners: { listener0: { address: 'tcp4://0.0.0.0:2223' } } });
    await assert.rejects(informer.listClients(), { name: 'InformerError', message: 'the informer answered listClients with status "1"' });
  });

  test('answers of the wrong shape are refused; fields of the wrong type are dropped from serverInfo', async () => {
    const { informer } = await client((request) => {
      switch (request.command.type) {
        case 'listClients':
          return { status: '0', data: ['alice', 7] };
        case 'isClient':
          return { status: '0', data: 'yes' };
        case 'serverInfo':
          return { status: '0', data: { ...INFO, uptimeSeconds: '12', handlers: [{ type: 'x' }, INFO.handlers[0]], listeners: { a: 1, b: { address: 'x' } } } };
        default:
          return Buffer.concat([encodeJsonFrame('nope')]);
      }
    });
    await assert.rejects(informer.listClients(), { code: 'bad_server_frame' });
    await assert.rejects(informer.isClient('alice'), { code: 'bad_server_frame' });
    const info = await informer.serverInfo();
    assert.equal('uptimeSeconds' in info, false);
    assert.deepEqual(info.handlers, INFO.handlers);
    assert.deepEqual(info.listeners, { b: { address: 'x' } });
    await assert.rejects(informer.request('garbage'), { code: 'bad_server_frame', message: /not valid JSON/ });
    assert.deepEqual(await informer.request('serverInfo').then(() => 'ok'), 'ok', 'still in step');
  });

  test('a request that times out keeps its place: its late answer is not taken for the next one', async () => {
    // Answers in order, as an informer does: the slow one's answer comes right before the next one's.
    let first = true;
    const { informer } = await client((request, socket) => {
      if (first) {
        first = false;
        return undefined;
      }
      socket.write(encodeFrame({ status: '0', data: 'late' }));
      return { status: '0', data: request.command.data };
    });
    await assert.rejects(informer.request('slow', null, { timeoutMs: 50 }), {
      code: 'timeout',
      message: /did not answer slow within 50 ms/,
    });
    assert.equal(await informer.request('echo', 'mine'), 'mine');
  });

  test('quit resolves once the informer closed the connection; later requests fail at once', async () => {
    const { informer } = await client((request, socket) => {
      if (request.command.type !== 'quit') return standard(request);
      socket.end(encodeFrame({ status: '0', data: null }));
      return undefined;
    });
    await informer.quit();
    assert.equal(informer.isOpen, false);
    await assert.rejects(informer.listClients(), { code: 'not_connected' });
  });

  test('a connection lost with requests in flight rejects them all', async () => {
    const { informer } = await client((request, socket) => {
      if (request.command.type === 'die') socket.destroy();
      return undefined;
    });
    const waiting = [informer.request('a'), informer.request('b'), informer.request('die')].map((p) => p.then(() => null, (e: unknown) => e));
    for (const err of await Promise.all(waiting)) {
      assert.ok(err instanceof ClientError);
      assert.equal(err.code, 'connection_closed');
    }
  });

  test('close() rejects what waits, is idempotent, and later calls fail', async () => {
    const { informer } = await client(() => undefined);
    const waiting = informer.listClients().then(() => null, (e: unknown) => e);
    await Promise.all([informer.close(), informer.close()]);
    const err = await waiting;
    assert.ok(err instanceof ClientError);
    assert.equal(err.code, 'connection_closed');
    await assert.rejects(informer.serverInfo(), { code: 'not_connected' });
  });

  test('connect errors: no path, a missing socket, a TCP address', async () => {
    await assert.rejects(connectInformer(undefined), { code: 'bad_address', message: /BESTER_INFORMER_SOCKET/ });
    await assert.rejects(connectInformer(''), { code: 'bad_address' });
    const missing = path.join(os.tmpdir(), `no-such-informer-${process.pid}.sock`);
    await assert.rejects(connectInformer(missing), { code: 'connect_failed', message: `cannot connect to unix:${missing}: no such socket file` });
    await assert.rejects(connectInformer('unix:127.0.0.1:2220'), { code: 'connect_failed' });
    const fake = await fakeInformer(standard);
    const viaPrefix = await connectInformer(`unix:${fake.path}`);
    assert.deepEqual(await viaPrefix.listClients(), ['alice', 'bob']);
    await viaPrefix.close();
  });

  test('connectInformer() reads BESTER_INFORMER_SOCKET', async () => {
    const fake = await fakeInformer(standard);
    const saved = process.env.BESTER_INFORMER_SOCKET;
    process.env.BESTER_INFORMER_SOCKET = fake.path;
    try {
      const informer = await connectInformer();
      assert.equal(informer.path, fake.path);
      assert.equal(await informer.isClient('alice'), true);
      await informer.close();
    } finally {
      if (saved === undefined) delete process.env.BESTER_INFORMER_SOCKET;
      else process.env.BESTER_INFORMER_SOCKET = saved;
    }
  });
});
