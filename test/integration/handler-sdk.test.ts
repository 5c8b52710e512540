// The handler SDK on real UNIX sockets (docs/handlers.md): requests and replies, errors, limits,
// stale socket files, close and SIGTERM; then behind a real daemon, in data and envelope input.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeFrame } from '../../src/protocol/frame.ts';
import {
  askHandler,
  replyError,
  sendClients,
  sendHandler,
  serveHandler,
  type HandlerContext,
  type HandlerFunction,
  type ServedHandler,
  type ServeOptions,
} from '../../src/sdk/handler.ts';
import { ROOT, startTestDaemon, tempDir, type TestDaemon } from '../helpers/daemon.ts';
import { loggedIn, message, RawClient } from '../helpers/raw-client.ts';

interface Reply {
  header: { status: string; error?: string; command?: { type: string; data: unknown } };
  data: unknown;
}

const dir = tempDir('bt-sdk-');
after(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
function socketPath(): string {
  return path.join(dir, `h${++counter}.sock`);
}

async function serve(fn: HandlerFunction, options: ServeOptions = {}): Promise<ServedHandler> {
  return serveHandler(fn, { socketPath: socketPath(), handleSignals: false, ...options });
}

async function ask(handler: ServedHandler, ...requests: unknown[]): Promise<Reply[]> {
  const client = await RawClient.connect({ path: handler.socketPath });
  try {
    for (const request of requests) client.send(request);
    const replies: Reply[] = [];
    for (let i = 0; i < requests.length; i++) replies.push((await client.next(3000)) as Reply);
    return replies;
  } finally {
    client.close();
  }
}

describe('handler SDK: serving requests', () => {
  test('a request gets the reply the function returns', async () => {
    const h = await serve((data) => sendClients(['bob'], { got: data }));
    try {
      assert.deepEqual(await ask(h, { text: 'hi' }), [
        { header: { status: '0', command: { type: 'sendClients', data: ['bob'] } }, data: { got: { text: 'hi' } } },
      ]);
    } finally {
      await h.close();
    }
  });

  test('several requests on one connection are answered in order, even when the first is slower', async () => {
    const h = await serve(async (data) => {
      const ms = (data as { ms: number }).ms;
      await new Promise((r) => setTimeout(r, ms));
      return sendHandler('next', ms);
    });
    try {
      const replies = await ask(h, { ms: 60 }, { ms: 0 }, { ms: 10 });
      assert.deepEqual(replies.map((r) => r.data), [60, 0, 10]);
    } finally {
      await h.close();
    }
  });

  test('a client that half-closes after its request still gets the reply, then the connection ends', async () => {
    const h = await serve(() => sendClients([], 'ok'));
    try {
      const client = await RawClient.connect({ path: h.socketPath });
      client.socket.end(encodeFrame('x'));
      assert.equal(((await client.next(3000)) as Reply).data, 'ok');
      assert.equal(await client.waitClosed(3000), true);
    } finally {
      await h.close();
    }
  });

  test('a function that throws answers status "1" with its message, and onError hears of it', async () => {
    const seen: unknown[] = [];
    const h = await serve(
      () => {
        throw new Error('you are not in room "lobby"');
      },
      { onError: (err) => seen.push(err) },
    );
    try {
      assert.deepEqual(await ask(h, 1), [{ header: { status: '1', error: 'you are not in room "lobby"' }, data: null }]);
      assert.equal(seen.length, 1);
    } finally {
      await h.close();
    }
  });

  test('a rejected promise, replyError(), and a function returning no reply all answer status "1"', async () => {
    const h = await serve((data) => {
      if (data === 'reject') return Promise.reject(new Error('rejected'));
      if (data === 'error') return replyError('explicit');
      return undefined as unknown as ReturnType<HandlerFunction>;
    });
    try {
      const [rejected, explicit, none] = await ask(h, 'reject', 'error', 'none');
      assert.equal(rejected?.header.error, 'rejected');
      assert.equal(explicit?.header.error, 'explicit');
      assert.equal(none?.header.status, '1');
      assert.match(none?.header.error ?? '', /returned no reply/);
    } finally {
      await h.close();
    }
  });

  test('a frame that is not JSON answers status "1" and the connection stays usable', async () => {
    const h = await serve((data) => sendClients([], data));
    try {
      const client = await RawClient.connect({ path: h.socketPath });
      const body = Buffer.from('{not json');
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32LE(body.length, 0);
      client.write(Buffer.concat([prefix, body]));
      client.send(7);
      assert.equal(((await client.next(3000)) as Reply).header.status, '1');
      assert.equal(((await client.next(3000)) as Reply).data, 7);
      client.close();
    } finally {
      await h.close();
    }
  });

  test('a request over maxFrameBytes is refused from its length prefix: status "1", then the connection closes', async () => {
    let called = false;
    const h = await serve(
      () => {
        called = true;
        return sendClients([], null);
      },
      { maxFrameBytes: 64 },
    );
    try {
      const client = await RawClient.connect({ path: h.socketPath });
      client.send({ big: 'x'.repeat(100) });
      const reply = (await client.next(3000)) as Reply;
      assert.equal(reply.header.status, '1');
      assert.match(reply.header.error ?? '', /over the limit of 64 bytes/);
      assert.equal(await client.waitClosed(3000), true);
      assert.equal(called, false);
    } finally {
      await h.close();
    }
  });

  test('envelope input: the function gets the inner data and the sender; a bare request is refused', async () => {
    const contexts: HandlerContext[] = [];
    const h = await serve(
      (data, context) => {
        contexts.push(context);
        return sendClients([], data);
      },
      { input: 'envelope' },
    );
    try {
      const [good, bare] = await ask(h, { sender: 'alice', type: 'chat', id: 'm1', data: { text: 'hi' } }, { text: 'hi' });
      assert.deepEqual(good?.data, { text: 'hi' });
      assert.deepEqual(contexts, [{ sender: 'alice', type: 'chat', id: 'm1' }]);
      assert.equal(bare?.header.status, '1');
      assert.match(bare?.header.error ?? '', /"input": "envelope"/);
    } finally {
      await h.close();
    }
  });

  test('data input: context has no sender, and the type from options', async () => {
    let context: HandlerContext | undefined;
    const h = await serve(
      (data, ctx) => {
        context = ctx;
        return sendClients([], data);
      },
      { type: 'echo', input: 'data' },
    );
    try {
      await ask(h, { sender: 'mallory', type: 'x', id: '1', data: 1 });
      assert.deepEqual(context, { sender: null, type: 'echo', id: null });
    } finally {
      await h.close();
    }
  });
});

describe('handler SDK: askHandler', () => {
  test('asks once, as the daemon does, and resolves with the parsed reply', async () => {
    const h = await serve((data, { sender }) => sendClients(['bob'], { data, sender }), { input: 'envelope' });
    try {
      assert.deepEqual(await askHandler(h.socketPath, { sender: 'alice', type: 't', id: '1', data: 2 }), {
        header: { status: '0', command: { type: 'sendClients', data: ['bob'] } },
        data: { data: 2, sender: 'alice' },
      });
    } finally {
      await h.close();
    }
  });

  test('rejects when nothing listens, and after timeoutMs when no reply comes', async () => {
    await assert.rejects(askHandler(path.join(dir, 'nobody.sock'), 1, { timeoutMs: 1000 }), /cannot ask .*nobody\.sock/);
    const h = await serve(() => new Promise(() => undefined)); // never answers
    try {
      await assert.rejects(askHandler(h.socketPath, 1, { timeoutMs: 100 }), /no reply .* within 100 ms/);
    } finally {
      await h.close();
    }
  });
});

describe('handler SDK: the socket file', () => {
  test('the socket is created 0600 and removed by close(); close() may be called twice', async () => {
    const h = await serve(() => sendClients([], null));
    assert.equal(lstatSync(h.socketPath).mode & 0o777, 0o600);
    await Promise.all([h.close(), h.close()]);
    await h.close();
    assert.equal(existsSync(h.socketPath), false);
  });

  test('a stale socket file left by a killed handler is replaced', async () => {
    const stale = socketPath();
    // A process that binds the path and is killed before it can remove the file.
    const script = `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`;
    spawnSync(process.execPath, ['--input-type=commonjs', '-e', script], { timeout: 5000 });
    assert.equal(lstatSync(stale).isSocket(), true);
    const h = await serveHandler(() => sendClients([], 'fresh'), { socketPath: stale, handleSignals: false });
    try {
      assert.equal((await ask(h, 1))[0]?.data, 'fresh');
    } finally {
      await h.close();
    }
  });

  test('a socket another process serves is left alone: serveHandler rejects', async () => {
    const busy = socketPath();
    const other = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => other.listen(busy, resolve));
    try {
      await assert.rejects(serveHandler(() => sendClients([], null), { socketPath: busy, handleSignals: false }), /another process is serving it/);
      assert.equal(lstatSync(busy).isSocket(), true);
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  });

  test('a file that is not a socket is never removed', async () => {
    const file = socketPath();
    writeFileSync(file, 'keep me');
    await assert.rejects(serveHandler(() => sendClients([], null), { socketPath: file, handleSignals: false }), /not a socket/);
    assert.equal(lstatSync(file).isFile(), true);
  });

  test('SIGTERM: a handler process closes, removes its socket file and exits 0', async () => {
    const sock = socketPath();
    // Run as the daemon would: the script itself, with this Node first on PATH for its #! line.
    const env = { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` };
    const child = spawn(path.join(ROOT, 'examples/handlers/echo.ts'), [sock], { stdio: 'ignore', env });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.on('error', () => undefined);
    try {
      await waitFor(() => existsSync(sock), 8000);
      const client = await RawClient.connect({ path: sock });
      client.send({ to: 'bob', text: 'hi' });
      assert.equal(((await client.next(3000)) as Reply).header.status, '0');
      client.close();
      child.kill('SIGTERM');
      assert.equal(await withTimeout(exited, 5000), 0);
      assert.equal(existsSync(sock), false);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('handler SDK: behind a real daemon', () => {
  let d: TestDaemon;
  const handlers: ServedHandler[] = [];
  const sock = (type: string): string => path.join(d.dir, `h-${type}.sock`);

  before(async () => {
    // '' as binary: the daemon starts nothing and only connects; this test process serves the sockets.
    d = await startTestDaemon({
      handlers: { plain: { binary: '' }, env: { binary: '', input: 'envelope' }, fails: { binary: '' } },
    });
    handlers.push(
      await serveHandler((data) => sendClients((data as { to: string[] }).to, { echoed: data }), {
        socketPath: sock('plain'),
        handleSignals: false,
      }),
      await serveHandler((data, { sender, type, id }) => sendClients([sender ?? 'nobody'], { data, type, id }), {
        socketPath: sock('env'),
        input: 'envelope',
        handleSignals: false,
      }),
      await serveHandler(
        () => {
          throw new Error('nope');
        },
        { socketPath: sock('fails'), handleSignals: false },
      ),
    );
  });
  after(async () => {
    await Promise.all(handlers.map((h) => h.close()));
    await d.close();
  });

  test('data input: the result reaches the users the function names', async () => {
    const alice = await loggedIn({ port: d.port }, 'alice', 'alice-pw');
    const bob = await loggedIn({ port: d.port }, 'bob', 'bob-pw');
    try {
      alice.client.send(message('plain', 'p1', { to: ['bob'] }));
      assert.deepEqual(await bob.client.next(), {
        header: { messageType: 'receivedMessage' },
        payload: { type: 'plain', data: { echoed: { to: ['bob'] } } },
      });
      assert.equal(((await alice.client.next()) as { header: { status: string } }).header.status, 'good');
    } finally {
      alice.client.close();
      bob.client.close();
    }
  });

  test('envelope input: the handler learns the verified sender, type and id', async () => {
    const carol = await loggedIn({ port: d.port }, 'carol', 'carol-pw');
    try {
      carol.client.send(message('env', 'c7', { claims: 'to be alice' }));
      assert.deepEqual(await carol.client.next(), {
        header: { messageType: 'receivedMessage' },
        payload: { type: 'env', data: { data: { claims: 'to be alice' }, type: 'env', id: 'c7' } },
      });
      assert.equal(((await carol.client.next()) as { header: { status: string } }).header.status, 'good');
    } finally {
      carol.client.close();
    }
  });

  test('a function that throws: the sender gets bad with handler_error, and the connection stays', async () => {
    const alice = await loggedIn({ port: d.port }, 'alice', 'alice-pw');
    try {
      alice.client.send(message('fails', 'f1', null));
      const report = (await alice.client.next()) as { header: { status: string; code: string }; payload: { id: string } };
      assert.equal(report.header.status, 'bad');
      assert.equal(report.header.code, 'handler_error');
      assert.equal(report.payload.id, 'f1');
      alice.client.send(message('plain', 'p2', { to: [] }));
      assert.equal(((await alice.client.next()) as { header: { status: string } }).header.status, 'good');
    } finally {
      alice.client.close();
    }
  });
});

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
