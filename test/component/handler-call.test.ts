// callHandler against small in-process servers on UNIX sockets in a temp dir.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BesterError } from '../../src/protocol/errors.ts';
import { encodeFrame, encodeJsonFrame, FrameDecoder, parseFrameJson } from '../../src/protocol/frame.ts';
import { callHandler, CallList } from '../../src/server/handlers/handler-call.ts';

const OPTIONS = { timeoutMs: 2000, maxReplyBytes: 1024 * 1024 };

interface FakeServer {
  path: string;
  /** Each frame the server received, parsed, and the raw bytes of each connection. */
  frames: unknown[];
  rawBytes: number[];
  close(): Promise<void>;
}

let dir = '';
let serial = 0;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bh-'));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A server that reads one frame per connection and hands it to `onFrame`. */
async function serve(onFrame: (socket: net.Socket, data: unknown) => void): Promise<FakeServer> {
  const socketPath = path.join(dir, `s${serial++}.sock`);
  const sockets = new Set<net.Socket>();
  const frames: unknown[] = [];
  const rawBytes: number[] = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const index = rawBytes.push(0) - 1;
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    const decoder = new FrameDecoder(
      {
        frame(body) {
          decoder.stop();
          const data = parseFrameJson(body);
          frames.push(data);
          onFrame(socket, data);
        },
        error() {
          socket.destroy();
        },
      },
      1024 * 1024,
    );
    socket.on('data', (chunk: Buffer) => {
      rawBytes[index] = (rawBytes[index] ?? 0) + chunk.length;
      decoder.push(chunk);
    });
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    path: socketPath,
    frames,
    rawBytes,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<BesterError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof BesterError, `expected a BesterError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected a rejection with ${code}`);
}

const REPLY = { header: { status: '0', command: { type: 'sendClients', data: ['alice'] } }, data: { text: 'héllo ✓' } };

describe('callHandler', () => {
  it('sends exactly the data in one frame and resolves with the parsed reply', async () => {
    const server = await serve((socket) => socket.end(encodeFrame(REPLY)));
    try {
      const data = { text: 'hi', to: ['alice'], nested: { list: [1, 2, null] } };
      const reply = await callHandler(server.path, data, OPTIONS);
      assert.deepEqual(reply.value, REPLY);
      assert.equal(reply.text, JSON.stringify(REPLY), 'the reply text, as received');
      assert.deepEqual(server.frames, [data]);
      await waitFor(() => server.rawBytes[0] === encodeFrame(data).length);
      assert.deepEqual(server.rawBytes, [encodeFrame(data).length]);
    } finally {
      await server.close();
    }
  });

  it('accepts any JSON value as data and as reply', async () => {
    const server = await serve((socket, data) => socket.end(encodeFrame(data)));
    try {
      for (const data of ['a string', 42, null, [1, 'two'], false]) {
        assert.deepEqual((await callHandler(server.path, data, OPTIONS)).value, data);
      }
      assert.deepEqual(server.frames, ['a string', 42, null, [1, 'two'], false]);
    } finally {
      await server.close();
    }
  });

  it('reads a reply that arrives one byte at a time', async () => {
    const server = await serve((socket) => {
      void (async () => {
        for (const byte of encodeFrame(REPLY)) {
          if (socket.destroyed) return;
          socket.write(Buffer.of(byte));
          await sleep(1);
        }
      })();
    });
    try {
      assert.deepEqual((await callHandler(server.path, 'x', OPTIONS)).value, REPLY);
    } finally {
      await server.close();
    }
  });

  it('ignores bytes after the first reply frame', async () => {
    const server = await serve((socket) => {
      socket.write(Buffer.concat([encodeFrame({ first: true }), encodeFrame({ second: true }), Buffer.from('junk')]));
    });
    try {
      assert.deepEqual((await callHandler(server.path, {}, OPTIONS)).value, { first: true });
    } finally {
      await server.close();
    }
  });

  it('rejects with handler_timeout when no reply comes in time', async () => {
    const server = await serve(() => {});
    try {
      const started = performance.now();
      await rejectsWith(callHandler(server.path, {}, { ...OPTIONS, timeoutMs: 100 }), 'handler_timeout', /100 ms/);
      const took = performance.now() - started;
      assert.ok(took >= 90 && took < 1500, `took ${took} ms`);
    } finally {
      await server.close();
    }
  });

  it('counts the timeout from the start of the call, across a slow partial reply', async () => {
    const server = await serve((socket) => {
      const frame = encodeFrame(REPLY);
      socket.write(frame.subarray(0, 6));
      setTimeout(() => socket.write(frame.subarray(6)), 300).unref();
    });
    try {
      await rejectsWith(callHandler(server.path, {}, { ...OPTIONS, timeoutMs: 100 }), 'handler_timeout');
    } finally {
      await server.close();
    }
  });

  it('rejects with handler_bad_reply on a reply that is not JSON', async () => {
    const server = await serve((socket) => socket.end(encodeJsonFrame('not json')));
    try {
      await rejectsWith(callHandler(server.path, {}, OPTIONS), 'handler_bad_reply', /unreadable reply: frame is not valid JSON/);
    } finally {
      await server.close();
    }
  });

  it('rejects with handler_bad_reply on a reply that is not UTF-8', async () => {
    const body = Buffer.from([0x22, 0xff, 0xfe, 0x22]);
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(body.length, 0);
    const server = await serve((socket) => socket.end(Buffer.concat([prefix, body])));
    try {
      await rejectsWith(callHandler(server.path, {}, OPTIONS), 'handler_bad_reply');
    } finally {
      await server.close();
    }
  });

  it('rejects with handler_bad_reply on a zero-length reply frame', async () => {
    const server = await serve((socket) => socket.end(Buffer.alloc(4)));
    try {
      await rejectsWith(callHandler(server.path, {}, OPTIONS), 'handler_bad_reply');
    } finally {
      await server.close();
    }
  });

  it('rejects with handler_bad_reply when the handler closes without a reply', async () => {
    const server = await serve((socket) => socket.end());
    try {
      await rejectsWith(callHandler(server.path, {}, OPTIONS), 'handler_bad_reply', /without a reply/);
    } finally {
      await server.close();
    }
  });

  it('rejects with handler_bad_reply when the handler closes in the middle of its reply', async () => {
    const server = await serve((socket) => socket.end(encodeFrame(REPLY).subarray(0, 10)));
    try {
      await rejectsWith(callHandler(server.path, {}, OPTIONS), 'handler_bad_reply', /middle of its reply/);
    } finally {
      await server.close();
    }
  });

  it('rejects an oversize reply from its length prefix alone, without waiting for the body', async () => {
    const server = await serve((socket) => {
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32LE(2 * 1024 * 1024, 0);
      socket.write(prefix); // and then nothing: a decoder that buffered would wait for the timeout
    });
    try {
      const err = await rejectsWith(
        callHandler(server.path, {}, { ...OPTIONS, timeoutMs: 5000 }),
        'handler_bad_reply',
        /over the limit/,
      );
      assert.equal((err.cause as BesterError).code, 'frame_too_large');
    } finally {
      await server.close();
    }
  });

  it('rejects with handler_unavailable when the socket does not exist', async () => {
    const missing = path.join(dir, 'missing.sock');
    await rejectsWith(
      callHandler(missing, {}, OPTIONS),
      'handler_unavailable',
      new RegExp(`handler socket ${missing} is not accepting connections \\(ENOENT\\)`),
    );
  });

  it('rejects with handler_unavailable when nothing listens on the path', async () => {
    const file = path.join(dir, 'plain-file');
    fs.writeFileSync(file, '');
    await rejectsWith(callHandler(file, {}, OPTIONS), 'handler_unavailable', /not accepting connections/);
  });

  it('rejects with shutting_down when the signal aborts, and at once if it already has', async () => {
    const server = await serve(() => {});
    try {
      const controller = new AbortController();
      const call = callHandler(server.path, {}, { ...OPTIONS, signal: controller.signal });
      setTimeout(() => controller.abort(), 20);
      await rejectsWith(call, 'shutting_down');
      await rejectsWith(callHandler(server.path, {}, { ...OPTIONS, signal: AbortSignal.abort() }), 'shutting_down');
    } finally {
      await server.close();
    }
  });

  it('calls of one link share one abort listener per signal: 300 in flight add one, aborting ends only theirs', async () => {
    const server = await serve(() => {}); // never answers
    const list = new CallList();
    try {
      const shutdown = new AbortController();
      const other = new AbortController();
      const calls = Array.from({ length: 300 }, () => callHandler(server.path, {}, { ...OPTIONS, signal: shutdown.signal }, list));
      const otherCall = callHandler(server.path, {}, { ...OPTIONS, signal: other.signal }, list);
      for (const call of [...calls, otherCall]) call.catch(() => undefined); // asserted below; none unhandled if an assertion fails first
      // A listener per call would make each call walk the signal's list of listeners: a cost per call that grows with the calls in flight.
      assert.equal(getEventListeners(shutdown.signal, 'abort').length, 1);
      assert.equal(getEventListeners(other.signal, 'abort').length, 1);
      shutdown.abort();
      const ended = await Promise.allSettled(calls);
      assert.deepEqual(new Set(ended.map((e) => (e.status === 'rejected' ? (e.reason as BesterError).code : 'fulfilled'))), new Set(['shutting_down']));
      assert.equal(getEventListeners(shutdown.signal, 'abort').length, 0);
      // The call carrying another signal is still waiting; closing the list ends it and lets go of that signal too.
      const race = await Promise.race([otherCall.then(() => 'replied', () => 'ended'), sleep(50).then(() => 'waiting')]);
      assert.equal(race, 'waiting');
      list.close();
      await rejectsWith(otherCall, 'handler_bad_reply', /handler connection closed/);
      assert.equal(getEventListeners(other.signal, 'abort').length, 0);
    } finally {
      list.close();
      await server.close();
    }
  });

  it('does not leak file descriptors over 200 failing calls (Linux /proc)', async () => {
    const closing = await serve((socket) => socket.end());
    const garbage = await serve((socket) => socket.end(encodeJsonFrame('nope')));
    const hanging = await serve(() => {});
    const missing = path.join(dir, 'nothing-here.sock');
    const countFds = (): number => fs.readdirSync('/proc/self/fd').length;
    try {
      const before = countFds();
      for (let i = 0; i < 200; i += 1) {
        const target = [missing, closing.path, garbage.path, hanging.path][i % 4]!;
        const options = i % 4 === 3 ? { ...OPTIONS, timeoutMs: 5 } : OPTIONS;
        await assert.rejects(callHandler(target, { i }, options), BesterError);
      }
      // The server ends of the connections close asynchronously; wait for them, bounded.
      await waitFor(() => countFds() <= before);
      assert.ok(countFds() <= before, `fds grew from ${before} to ${countFds()}`);
    } finally {
      await Promise.all([closing.close(), garbage.close(), hanging.close()]);
    }
  });
});

/** Polls `check` every 10 ms for up to 2 s. */
async function waitFor(check: () => boolean): Promise<void> {
  const deadline = performance.now() + 2000;
  while (!check() && performance.now() < deadline) await sleep(10);
}
