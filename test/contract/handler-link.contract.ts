// The handler-link contract (src/server/handlers/handler-link.ts): what every way of calling a
// handler must do, run by handler-link.test.ts against OriginalLink, MultiplexLink and AutoLink.
// The handler is scripted here, in this process, speaking the original protocol (one request per
// connection, docs/protocol.md §4.1) or multiplex/1 (§4.5); each request's data says what to do.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FrameConnection, UNBOUNDED } from '../../src/framing/frame-connection.ts';
import { BesterError } from '../../src/protocol/errors.ts';
import { encodeJsonFrame, parseFrameText } from '../../src/protocol/frame.ts';
import { isSupportedGreeting, MULTIPLEX_GREETING_JSON, readMultiplexRequest } from '../../src/protocol/handler-multiplex.ts';
import { JsonData } from '../../src/protocol/json-text.ts';
import type { HandlerCallOptions } from '../../src/server/handlers/handler-call.ts';
import type { HandlerLink } from '../../src/server/handlers/handler-link.ts';
import { tempDir } from '../helpers/daemon.ts';

/** What a scripted request asks for. */
export interface Script {
  readonly mode: 'reply' | 'delay' | 'hang' | 'garbage' | 'oversize' | 'close';
  readonly n?: number;
  readonly ms?: number;
}

/** The reply to `n`, written with odd spacing: the link must pass this text on as it came. */
export function replyText(n: number): string {
  return `{ "header" : {"status":"0","command":{"type":"sendClients","data":[]}},  "data":{"n" : ${n}, "é":"\\u00e9"} }`;
}

export interface ScriptedHandler {
  readonly socketPath: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

/** A handler on a UNIX socket in `dir`, speaking `protocol` and doing what each request's Script says. */
export async function startScriptedHandler(dir: string, name: string, protocol: 'original' | 'multiplex'): Promise<ScriptedHandler> {
  const socketPath = path.join(dir, name);
  const open = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    serve(socket, protocol);
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    get accepted() {
      return accepted;
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function serve(socket: net.Socket, protocol: 'original' | 'multiplex'): void {
  socket.on('error', () => undefined);
  let accepted = protocol === 'original';
  const conn: FrameConnection = new FrameConnection(
    socket,
    'scripted-handler',
    {
      frame(body) {
        const request = parseFrameText(body);
        if (!accepted) {
          accepted = isSupportedGreeting(request.value); // §4.5.1: the daemon accepts with the greeting
          if (!accepted) conn.destroy();
          return;
        }
        if (protocol === 'original') {
          act(request.value as Script, (text) => {
            conn.sendFrame(encodeJsonFrame(text));
            conn.close();
          });
          return;
        }
        const multiplexed = readMultiplexRequest(request.value);
        if (multiplexed === null) {
          conn.destroy();
          return;
        }
        act(multiplexed.input as Script, (text) => conn.sendFrame(encodeJsonFrame(`{"id":${multiplexed.id},"reply":${text}}`)));
      },
      protocolError: () => conn.destroy(),
      ended: () => conn.close(),
      closed: () => undefined,
    },
    { maxFrameBytes: 1 << 20, maxOutboundBytes: UNBOUNDED },
  );
  if (protocol === 'multiplex') conn.sendFrame(encodeJsonFrame(MULTIPLEX_GREETING_JSON));

  function act(script: Script, reply: (text: string) => void): void {
    const n = script.n ?? 0;
    switch (script.mode) {
      case 'reply':
        reply(replyText(n));
        return;
      case 'delay':
        setTimeout(() => reply(replyText(n)), script.ms ?? 10).unref();
        return;
      case 'hang':
        return;
      case 'garbage':
        conn.sendFrame(encodeJsonFrame('not json'));
        return;
      case 'oversize': {
        const prefix = Buffer.alloc(4);
        prefix.writeUInt32LE(2 * 1024 * 1024, 0);
        socket.write(prefix);
        return;
      }
      case 'close':
        conn.destroy();
        return;
    }
  }
}

export interface LinkUnderTest {
  /** The link kind and the protocol its handler speaks, e.g. "auto, multiplex handler". */
  readonly name: string;
  readonly handlerProtocol: 'original' | 'multiplex';
  readonly make: (socketPath: string) => HandlerLink;
}

const OPTIONS: HandlerCallOptions = { timeoutMs: 3000, maxReplyBytes: 64 * 1024, maxJsonDepth: 32 };

/** How the suite calls: the promise form (call), or the callback form (send) the message path uses. */
type Form = 'call' | 'send';

/** Calls told to a receiver more than once (the contract says exactly once): each is a failure. */
const toldTwice: string[] = [];

/** One call in the form under test, as a promise. */
function callIn(form: Form, link: HandlerLink, script: Script, options: Partial<HandlerCallOptions> = {}): Promise<JsonData> {
  const input = new JsonData(script);
  const all = { ...OPTIONS, ...options };
  if (form === 'call') return link.call(input, all);
  return new Promise<JsonData>((resolve, reject) => {
    let told = 0;
    const once = (what: string): void => {
      if (++told > 1) toldTwice.push(`${JSON.stringify(script)}: told ${what} after an earlier end`);
    };
    link.send(input, all, {
      reply: (reply) => {
        once('a reply');
        resolve(reply);
      },
      fail: (err) => {
        once(`a failure (${err.code})`);
        reject(err);
      },
    });
  });
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof BesterError, `a BesterError, not ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

export function handlerLinkContract(u: LinkUnderTest): void {
  for (const form of ['call', 'send'] as const) linkContract(u, form);
}

function linkContract(u: LinkUnderTest, form: Form): void {
  const call = (link: HandlerLink, script: Script, options: Partial<HandlerCallOptions> = {}): Promise<JsonData> => callIn(form, link, script, options);
  describe(`handler-link contract: ${u.name}, ${form === 'call' ? 'call() (a promise)' : 'send() (a receiver told once)'}`, () => {
    let dir = '';
    let handler: ScriptedHandler;
    let names = 0;
    before(async () => {
      dir = tempDir('bhl-');
      handler = await startScriptedHandler(dir, 'h.sock', u.handlerProtocol);
    });
    after(async () => {
      await handler.close();
      rmSync(dir, { recursive: true, force: true });
      assert.deepEqual(toldTwice.splice(0), [], 'every call is told its end exactly once');
    });

    /** A link to the shared scripted handler, closed after `body`. */
    async function withLink(body: (link: HandlerLink) => Promise<void>, socketPath = handler.socketPath): Promise<void> {
      const link = u.make(socketPath);
      try {
        await body(link);
      } finally {
        link.close();
      }
    }

    it('passes a reply on with its text exactly as the handler wrote it', () =>
      withLink(async (link) => {
        for (const n of [1, 2]) {
          const reply = await call(link, { mode: 'reply', n });
          assert.equal(reply.text, replyText(n));
          assert.deepEqual(reply.value, JSON.parse(replyText(n)));
        }
        assert.equal(link.status().protocol, u.handlerProtocol);
      }));

    it('a handler that does not answer in time: handler_timeout', () =>
      withLink(async (link) => {
        await call(link, { mode: 'reply' }); // past any negotiation: the timeout is the call's own
        const started = Date.now();
        await rejectsWith(call(link, { mode: 'hang' }, { timeoutMs: 150 }), 'handler_timeout');
        assert.ok(Date.now() - started < 2000);
      }));

    it('calls in flight together time out each at its own deadline, a shorter one first', () =>
      withLink(async (link) => {
        await call(link, { mode: 'reply' });
        const started = performance.now();
        const long = call(link, { mode: 'hang' }, { timeoutMs: 1200 }).then(
          () => assert.fail('the long hang was answered'),
          (err: unknown) => ({ err, ms: performance.now() - started }),
        );
        await rejectsWith(call(link, { mode: 'hang' }, { timeoutMs: 150 }), 'handler_timeout');
        const short = performance.now() - started;
        assert.ok(short >= 140 && short < 900, `the 150 ms call timed out after ${short.toFixed(0)} ms`);
        assert.equal((await call(link, { mode: 'reply', n: 3 })).text, replyText(3), 'a call after the timeout is answered');
        const { err, ms } = await long;
        assert.ok(err instanceof BesterError && err.code === 'handler_timeout', String(err));
        assert.ok(ms >= 1190 && ms < 3000, `the 1200 ms call timed out after ${ms.toFixed(0)} ms`);
      }));

    it('nobody listening: handler_unavailable', () =>
      withLink(async (link) => {
        await rejectsWith(call(link, { mode: 'reply' }), 'handler_unavailable');
      }, path.join(dir, `missing-${++names}.sock`)));

    it('a garbage reply, or one over maxReplyBytes: handler_bad_reply; the link goes on serving', () =>
      withLink(async (link) => {
        await rejectsWith(call(link, { mode: 'garbage' }), 'handler_bad_reply');
        await rejectsWith(call(link, { mode: 'oversize' }), 'handler_bad_reply');
        await rejectsWith(call(link, { mode: 'close' }), 'handler_bad_reply');
        assert.equal((await call(link, { mode: 'reply', n: 7 })).text, replyText(7));
      }));

    it('an aborted signal: shutting_down, at once when it already was', () =>
      withLink(async (link) => {
        await call(link, { mode: 'reply' });
        const controller = new AbortController();
        const pending = call(link, { mode: 'hang' }, { signal: controller.signal });
        setTimeout(() => controller.abort(), 30);
        await rejectsWith(pending, 'shutting_down');
        await rejectsWith(call(link, { mode: 'reply' }, { signal: AbortSignal.abort() }), 'shutting_down');
        assert.equal((await call(link, { mode: 'reply', n: 3 })).text, replyText(3));
      }));

    it('many calls at once, answered in any order, each get their own reply', () =>
      withLink(async (link) => {
        const count = 64;
        const replies = await Promise.all(
          Array.from({ length: count }, (_, n) => call(link, { mode: 'delay', n, ms: (n * 7) % 40 })),
        );
        replies.forEach((reply, n) => assert.equal(reply.text, replyText(n)));
      }));

    it('close() settles every call still waiting; later calls are refused', async () => {
      const link = u.make(handler.socketPath);
      await call(link, { mode: 'reply' });
      const pending = [call(link, { mode: 'hang' }), call(link, { mode: 'hang' })];
      await new Promise((r) => setTimeout(r, 50)); // the requests are out
      link.close();
      link.close();
      for (const p of pending) await rejectsWith(p, 'handler_bad_reply');
      await rejectsWith(call(link, { mode: 'reply' }), 'handler_unavailable');
    });
  });
}
