// The client SDK against scripted fake servers: what a real daemon never does (or an original
// besterd does), e.g. silent closes, garbage frames, frames in the same read as the login answer.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { encodeFrame, encodeJsonFrame, FrameDecoder, parseFrameJson } from '../../src/protocol/frame.ts';
import { ClientError, connect, LoginError, type Delivery } from '../../src/sdk/client.ts';

const GOOD_LOGIN = { header: { status: 'good', messageType: 'statusReport' }, payload: { id: 'auth_special' } };

interface FakeConnection {
  readonly socket: net.Socket;
  /** Frames the client sent, parsed. */
  readonly frames: unknown[];
  next(): Promise<unknown>;
}

/** A TCP server on port 0 that hands each connection to `script`. */
async function fakeServer(script: (conn: FakeConnection) => void | Promise<void>): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    const frames: unknown[] = [];
    const waiters: Array<() => void> = [];
    const decoder = new FrameDecoder(
      {
        frame: (body) => {
          frames.push(parseFrameJson(body));
          for (const w of waiters.splice(0)) w();
        },
        error: () => socket.destroy(),
      },
      1024 * 1024,
    );
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    let read = 0;
    const conn: FakeConnection = {
      socket,
      frames,
      async next() {
        while (frames.length <= read) await new Promise<void>((resolve) => waiters.push(resolve));
        return frames[read++];
      },
    };
    void Promise.resolve(script(conn)).catch(() => socket.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(script: (conn: FakeConnection) => void | Promise<void>): Promise<string> {
  const server = await fakeServer(script);
  cleanups.push(() => server.close());
  return `127.0.0.1:${server.port}`;
}

async function connected(server: string, extra: { timeoutMs?: number; sendTimeoutMs?: number } = {}) {
  const client = await connect({ server, username: 'alice', password: 'pw', timeoutMs: 2000, ...extra });
  cleanups.push(() => client.close());
  return client;
}

describe('client SDK against scripted servers', () => {
  test('sends the login frame of §2.2 with the credentials', async () => {
    let login: unknown;
    const server = await serve(async (conn) => {
      login = await conn.next();
      conn.socket.write(encodeFrame(GOOD_LOGIN));
    });
    await connected(server);
    assert.deepEqual(login, {
      header: { scope: 'client', authentication: { username: 'alice', password: 'pw' }, features: ['ping'] },
      payload: { type: 'login', id: 'login', data: null },
    });
  });

  test("answers the server's pings with a pong by itself; the owner never sees them (§5.3)", async () => {
    let pong: unknown;
    const server = await serve(async (conn) => {
      await conn.next();
      // The ping in the same write as the login answer, then a delivery after it.
      conn.socket.write(Buffer.concat([encodeFrame(GOOD_LOGIN), encodeFrame({ header: { messageType: 'ping' }, payload: { id: 'ping-1' } })]));
      pong = await conn.next();
      conn.socket.write(encodeFrame({ header: { messageType: 'receivedMessage' }, payload: { type: 't', data: 1 } }));
    });
    const client = await connected(server);
    const seen: Delivery[] = [];
    client.on('delivery', (d) => seen.push(d));
    const deadline = Date.now() + 2000;
    while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(pong, { header: {}, payload: { type: 'pong', id: 'ping-1', data: null } });
    assert.deepEqual(seen, [{ type: 't', data: 1 }]);
  });

  test('an original daemon closing silently on a refused login: a clear connection_closed', async () => {
    const server = await serve(async (conn) => {
      await conn.next();
      conn.socket.end();
    });
    await assert.rejects(connect({ server, username: 'a', password: 'b', timeoutMs: 2000 }), {
      code: 'connection_closed',
      message: /closed the connection during the login \(an original besterd does this when it refuses a login\)/,
    });
  });

  test('no login answer in time: timeout', async () => {
    const server = await serve(() => undefined);
    await assert.rejects(connect({ server, username: 'a', password: 'b', timeoutMs: 100 }), {
      code: 'timeout',
      message: `no login answer from ${server} within 100 ms`,
    });
  });

  test('a login answered by an error frame (§3.5) is a LoginError with its code', async () => {
    const server = await serve(async (conn) => {
      await conn.next();
      conn.socket.end(encodeFrame({ header: { status: 'bad', messageType: 'error', code: 'frame_too_large', reason: 'too big', fatal: true }, payload: { id: null } }));
    });
    const err = await connect({ server, username: 'a', password: 'b', timeoutMs: 2000 }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof LoginError);
    assert.equal(err.code, 'frame_too_large');
    assert.equal(err.reason, 'too big');
  });

  test('a delivery in the same read as the login answer reaches a listener added after connect', async () => {
    const delivery = { header: { messageType: 'receivedMessage' }, payload: { data: { n: 1 }, type: 'chat' } };
    const server = await serve(async (conn) => {
      await conn.next();
      conn.socket.write(Buffer.concat([encodeFrame(GOOD_LOGIN), encodeFrame(delivery), encodeFrame(delivery)]));
    });
    const client = await connected(server);
    const events: Delivery[] = [];
    client.on('delivery', (d) => events.push(d));
    const iterator = client.deliveries();
    assert.deepEqual(await iterator.next(), { done: false, value: { type: 'chat', data: { n: 1 } } });
    assert.deepEqual(await iterator.next(), { done: false, value: { type: 'chat', data: { n: 1 } } });
    assert.equal(events.length, 2);
  });

  test('frames of unknown kinds are ignored; reports of other ids are ignored', async () => {
    const server = await serve(async (conn) => {
      await conn.next();
      conn.socket.write(encodeFrame(GOOD_LOGIN));
      const msg = (await conn.next()) as { payload: { id: string } };
      conn.socket.write(encodeFrame({ header: { messageType: 'presence' }, payload: { user: 'bob' } }));
      conn.socket.write(encodeFrame({ header: {}, payload: {} }));
      conn.socket.write(encodeFrame({ header: { status: 'good', messageType: 'statusReport' }, payload: { id: 'someone-else' } }));
      conn.socket.write(encodeFrame({ header: { status: 'good', messageType: 'statusReport', extra: 1 }, payload: { id: msg.payload.id } }));
    });
    const client = await connected(server);
    const report = await client.send('chat', { text: 'x' }, { id: 'm1' });
    assert.equal(report.status, 'good');
    assert.equal(report.id, 'm1');
  });

  test('a frame that is not JSON ends the client with bad_server_frame and rejects pending sends', async () => {
    const server = await serve(async (conn) => {
      await conn.next();
      conn.socket.write(encodeFrame(GOOD_LOGIN));
      await conn.next();
      conn.socket.write(encodeJsonFrame('{not json'));
    });
    const client = await connected(server);
    await assert.rejects(client.send('chat', null), { code: 'bad_server_frame', message: /sent frame is not valid JSON/ });
    const ended = await client.closed;
    assert.ok(ended instanceof ClientError);
    assert.equal(ended.code, 'bad_server_frame');
  });

  test('a frame that is not an envelope ends the client too', async () => {
    const server = await serve(async (conn) => {
      await conn.next();
      conn.socket.write(encodeFrame(GOOD_LOGIN));
      conn.socket.write(encodeFrame([1, 2, 3]));
    });
    const client = await connected(server);
    const ended = await client.closed;
    assert.ok(ended instanceof ClientError);
    assert.match(ended.message, /sent a frame that is not a JSON object/);
  });

  test('a declared length over maxFrameBytes ends the client before the body is read', async () => {
    const server = await serve(async (conn) => {
      await conn.next();
      conn.socket.write(encodeFrame(GOOD_LOGIN));
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32LE(64 * 1024 * 1024, 0);
      conn.socket.write(prefix);
    });
    const client = await connect({ server, username: 'a', password: 'b', maxFrameBytes: 1024 });
    cleanups.push(() => client.close());
    const ended = await client.closed;
    assert.ok(ended instanceof ClientError);
    assert.equal(ended.code, 'bad_server_frame');
    assert.match(ended.message, /over the limit of 1024 bytes/);
  });

  test('an error frame (§3.5) ends the client with its code and reason; pending sends get them', async () => {
    const server = await serve(async (conn) => {
      await conn.next();
      conn.socket.write(encodeFrame(GOOD_LOGIN));
      await conn.next();
      conn.socket.write(encodeFrame({ header: { status: 'bad', messageType: 'error', code: 'slow_consumer', reason: 'you do not read', fatal: true }, payload: { id: null } }));
      // The server closes after it; a lingering one is closed by the client.
    });
    const client = await connected(server);
    const closes: Array<Error | null> = [];
    client.on('close', (e) => closes.push(e));
    const err = await client.send('chat', null).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof ClientError);
    assert.equal(err.code, 'slow_consumer');
    assert.match(err.message, /closed the connection: you do not read$/);
    assert.equal(await client.closed, err);
    assert.deepEqual(closes, [err]);
  });

  test('send refuses more when too much waits for a server that does not read', async () => {
    let serverSide: net.Socket | null = null;
    const server = await serve(async (conn) => {
      await conn.next();
      conn.socket.write(encodeFrame(GOOD_LOGIN));
      conn.socket.pause();
      serverSide = conn.socket;
    });
    const client = await connect({ server, username: 'a', password: 'b', maxOutboundBytes: 256 * 1024, sendTimeoutMs: 60_000 });
    cleanups.push(() => client.close());
    const big = 'x'.repeat(64 * 1024);
    const results: Array<Promise<unknown>> = [];
    let refused: unknown = null;
    for (let i = 0; i < 200 && refused === null; i++) {
      const sent = client.send('chat', big).then(() => null, (e: unknown) => e);
      results.push(sent);
      await new Promise((r) => setImmediate(r));
      refused = await Promise.race([sent, new Promise((r) => setImmediate(() => r(null)))]);
    }
    assert.ok(refused instanceof ClientError, 'a send was refused');
    assert.equal(refused.code, 'send_buffer_full');
    assert.equal(client.connected, true, 'the connection stays');
    (serverSide as net.Socket | null)?.destroy();
    for (const r of await Promise.all(results)) assert.ok(r instanceof ClientError);
    assert.ok((await client.closed) instanceof ClientError);
  });
});
