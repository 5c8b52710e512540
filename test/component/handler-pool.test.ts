// HandlerPool (docs/protocol.md §4.5) against a scripted in-process multiplex/1 handler on a UNIX
// socket: late replies, oversize and malformed replies, a greeting skipped in "original" mode, the
// handler's `connections` (how many long-lived connections at most) and describe().
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BesterError } from '../../src/protocol/errors.ts';
import { encodeJsonFrame, FrameDecoder, parseFrameJson } from '../../src/protocol/frame.ts';
import { MULTIPLEX_GREETING_JSON } from '../../src/protocol/handler-multiplex.ts';
import { JsonData } from '../../src/protocol/json-text.ts';
import type { HandlerConfig } from '../../src/server/config/types.ts';
import { HandlerPool } from '../../src/server/handlers/handler-pool.ts';

const OPTIONS = { timeoutMs: 2000, maxReplyBytes: 4096, maxJsonDepth: 8 };

let dir = '';
let serial = 0;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bp-'));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Reply `{header, data: input}` in the multiplex way, after input.ms, or something else per input.mode. */
function script(socket: net.Socket, frame: unknown): void {
  const { id, input } = frame as { id: number; input: { mode?: string; ms?: number } };
  const reply = JSON.stringify({ header: { status: '0', command: { type: 'sendClients', data: [] } }, data: input });
  const send = (): void => {
    if (input.mode === 'oversize') socket.write(encodeJsonFrame(`{"id":${id},"reply":"${'x'.repeat(5000)}"}`));
    else if (input.mode === 'deep') socket.write(encodeJsonFrame(`{"id":${id},"reply":${'['.repeat(10)}${']'.repeat(10)}}`));
    else if (input.mode === 'noid') socket.write(encodeJsonFrame(reply));
    else socket.write(encodeJsonFrame(`{"id":${id},"reply":${reply}}`));
  };
  setTimeout(send, input.ms ?? 0);
}

async function handler(greet: boolean): Promise<{ config: HandlerConfig; accepted: () => number; close: () => Promise<void> }> {
  const socketPath = path.join(dir, `h${serial++}.sock`);
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    if (greet) socket.write(encodeJsonFrame(MULTIPLEX_GREETING_JSON));
    let accepting = greet;
    let original = !greet;
    const decoder = new FrameDecoder(
      {
        frame(body) {
          const text = body.toString('utf8');
          if (accepting) {
            accepting = false;
            if (text === MULTIPLEX_GREETING_JSON) return;
            original = true;
          }
          if (original) {
            socket.end(encodeJsonFrame(`{"header":{"status":"0","command":{"type":"sendClients","data":[]}},"data":${text}}`));
            return;
          }
          script(socket, parseFrameJson(body));
        },
        error: () => socket.destroy(),
      },
      1 << 20,
    );
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const config: HandlerConfig = {
    type: 't',
    socketPath,
    binary: null,
    args: [],
    timeoutMs: 2000,
    input: 'data',
    maxInFlight: 64,
    maxInFlightPerUser: 16,
    protocol: 'auto',
    connections: 2,
  };
  return {
    config,
    accepted: () => accepted,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function code(err: unknown): string {
  assert.ok(err instanceof BesterError);
  return err.code;
}

describe('HandlerPool, multiplex/1', () => {
  it('an aborted signal ends at once every call that carried it (shutting_down); other calls and the connection go on', async () => {
    const h = await handler(true);
    const pool = new HandlerPool({ processOf: () => undefined });
    try {
      await pool.call(h.config, { n: 0 }, OPTIONS);
      const shutdown = new AbortController();
      const other = new AbortController();
      const started = performance.now();
      const cancelled = [1, 2].map((n) => pool.call(h.config, { n, ms: 1500 }, { ...OPTIONS, signal: shutdown.signal }));
      const kept = pool.call(h.config, { n: 3, ms: 300 }, { ...OPTIONS, signal: other.signal });
      await sleep(50);
      shutdown.abort();
      for (const call of cancelled) await assert.rejects(call, (err) => code(err) === 'shutting_down');
      assert.ok(performance.now() - started < 1000, 'not after the handler answered');
      assert.equal(((await kept).value as { data: { n: number } }).data.n, 3);
      const after = await pool.call(h.config, { n: 4 }, { ...OPTIONS, signal: other.signal });
      assert.equal((after.value as { data: { n: number } }).data.n, 4);
      await assert.rejects(pool.call(h.config, { n: 5 }, { ...OPTIONS, signal: shutdown.signal }), (err) => code(err) === 'shutting_down');
    } finally {
      pool.close();
      await h.close();
    }
  });

  it('a reply after its timeout is ignored; the connection goes on serving', async () => {
    const h = await handler(true);
    const pool = new HandlerPool({ processOf: () => undefined });
    try {
      await pool.call(h.config, { n: 0 }, OPTIONS);
      const late = pool.call(h.config, { ms: 300 }, { ...OPTIONS, timeoutMs: 100 });
      await assert.rejects(late, (err) => code(err) === 'handler_timeout');
      await new Promise((resolve) => setTimeout(resolve, 300));
      const replies = await Promise.all([1, 2, 3].map((n) => pool.call(h.config, { n }, OPTIONS)));
      assert.deepEqual(replies.map((r) => (r.value as { data: { n: number } }).data.n), [1, 2, 3]);
      assert.ok(h.accepted() <= 2, `the pool kept its connections (${h.accepted()})`);
    } finally {
      pool.close();
      await h.close();
    }
  });

  for (const mode of ['oversize', 'deep', 'noid']) {
    it(`a ${mode} reply drops the connection: the calls on it fail once, the next call reconnects`, async () => {
      const h = await handler(true);
      const pool = new HandlerPool({ processOf: () => undefined });
      const config = { ...h.config, connections: 1 };
      try {
        await pool.call(config, {}, OPTIONS);
        const waiting = pool.call(config, { ms: 100 }, OPTIONS);
        await assert.rejects(pool.call(config, { mode }, OPTIONS), (err) => code(err) === 'handler_bad_reply');
        await assert.rejects(waiting, (err) => code(err) === 'handler_bad_reply');
        const before = h.accepted();
        await pool.call(config, {}, OPTIONS);
        assert.equal(h.accepted(), before + 1);
      } finally {
        pool.close();
        await h.close();
      }
    });
  }

  // handlers.typeMap.T.connections (docs/protocol.md §4.5.3). The pool opens one connection at a
  // time, while every open one is busy: calls arriving one after another find each new one open.
  for (const connections of [4, 1]) {
    it(`connections ${connections}: 32 slow calls in flight together open ${connections} connection${connections === 1 ? '' : 's'}, no more`, async () => {
      const h = await handler(true);
      const pool = new HandlerPool({ processOf: () => undefined });
      const config = { ...h.config, connections };
      try {
        assert.deepEqual(pool.describe(config), { protocol: 'unknown', connections: 0 });
        const calls: Array<Promise<unknown>> = [];
        for (let n = 0; n < 32; n++) {
          calls.push(pool.call(config, { n, ms: 400 }, OPTIONS));
          await sleep(5);
        }
        assert.deepEqual(pool.describe(config), { protocol: 'multiplex', connections });
        const replies = await Promise.all(calls);
        assert.deepEqual(replies.map((r) => ((r as { value: { data: { n: number } } }).value.data.n)), [...Array(32).keys()]);
        assert.equal(h.accepted(), connections);
        await Promise.all([0, 1, 2, 3].map((n) => pool.call(config, { n, ms: 50 }, OPTIONS)));
        assert.equal(h.accepted(), connections, 'the connections are kept and reused');
      } finally {
        pool.close();
        await h.close();
      }
    });
  }

  it('describe: "original" config is always original; auto learns; a silent handler is original with no connections', async () => {
    const greeting = await handler(true);
    const silent = await handler(false);
    const pool = new HandlerPool({ processOf: () => undefined });
    try {
      assert.deepEqual(pool.describe({ ...greeting.config, protocol: 'original' }), { protocol: 'original', connections: 0 });
      assert.deepEqual(pool.describe({ ...greeting.config, protocol: 'multiplex' }), { protocol: 'multiplex', connections: 0 });
      await pool.call(greeting.config, {}, OPTIONS);
      assert.deepEqual(pool.describe(greeting.config), { protocol: 'multiplex', connections: 1 });
      const silentConfig = { ...silent.config, type: 's' };
      assert.deepEqual(pool.describe(silentConfig), { protocol: 'unknown', connections: 0 });
      await pool.call(silentConfig, {}, OPTIONS);
      assert.deepEqual(pool.describe(silentConfig), { protocol: 'original', connections: 0 });
    } finally {
      pool.close();
      await Promise.all([greeting.close(), silent.close()]);
    }
  });

  it('"original" with a handler that greets: the greeting is skipped, one connection per call', async () => {
    const h = await handler(true);
    const pool = new HandlerPool({ processOf: () => undefined });
    try {
      const config = { ...h.config, protocol: 'original' as const };
      for (let i = 0; i < 3; i++) assert.deepEqual((await pool.call(config, { i }, OPTIONS)).value, { header: { status: '0', command: { type: 'sendClients', data: [] } }, data: { i } });
      assert.equal(h.accepted(), 3);
    } finally {
      pool.close();
      await h.close();
    }
  });

  it('auto with a silent handler: calls at once share one negotiation, then each goes the original way', async () => {
    const h = await handler(false);
    const pool = new HandlerPool({ processOf: () => undefined });
    try {
      const replies = await Promise.all([0, 1, 2, 3].map((i) => pool.call(h.config, { i }, OPTIONS)));
      assert.deepEqual(replies.map((r) => (r.value as { data: { i: number } }).data.i), [0, 1, 2, 3]);
      assert.equal(h.accepted(), 4, 'one connection per call, none opened without a request');
      const started = performance.now();
      await pool.call(h.config, { i: 4 }, OPTIONS);
      assert.ok(performance.now() - started < 40, 'no second greeting wait');
    } finally {
      pool.close();
      await h.close();
    }
  });
});

describe('HandlerPool, big input that came as bytes', () => {
  for (const greet of [true, false]) {
    it(`${greet ? 'multiplex/1' : 'original'}: is written to the handler as those bytes, and its big reply read back intact`, async () => {
      const h = await handler(greet);
      const pool = new HandlerPool({ processOf: () => undefined });
      try {
        // Non-ASCII and escapes, over the size from which data is passed on as bytes (frame.ts LAZY_MIN_BYTES).
        const blob = 'é😀 "x" \\ '.repeat(20_000);
        const input = JsonData.ofSource(Buffer.from(JSON.stringify({ blob })));
        assert.ok(Buffer.isBuffer(input.source));
        const reply = await pool.call(h.config, input, { ...OPTIONS, maxReplyBytes: 1 << 20 });
        const data = reply.member(['data'], null);
        assert.ok(Buffer.isBuffer(data.source), 'the big result stays bytes too');
        assert.equal((data.value as { blob: string }).blob, blob);
      } finally {
        pool.close();
        await h.close();
      }
    });
  }
});
