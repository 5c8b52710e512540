#!/usr/bin/env node
// The daemon's own message path in one process, without sockets or a handler process
// (docs/performance.md): two sessions over in-memory duplex pairs, alice sending the bench's
// 100 B relay message to bob, `window` in flight, and a handler caller that answers every call of
// one read together in the next turn, with the reply a multiplex handler would send (parsed from
// its text, as the link does). What is left out is the kernel and the handler link: what is
// measured is the session, the pipeline, the router, the handler chain and delivery, so that a
// change to them can be compared A/B on a noisy machine, where bench/load.ts cannot tell 1 µs apart.
//
//   node bench/message-path.ts [--messages 200000] [--window 16] [--rounds 5]
//
// Prints the CPU µs per message of each round (process.cpuUsage, user + system), the least and the median.
import { duplexPair } from 'node:stream';
import { parseArgs } from 'node:util';
import { applyDaemonV8Flags } from '../src/cli/daemon-node-flags.ts';
import { MemoryAccountStore } from '../src/server/accounts/memory-store.ts';
import { parseConfig } from '../src/server/config/load.ts';
import { ServerEvents } from '../src/server/events.ts';
import { silentLogger } from '../src/server/log.ts';
import * as routing from '../src/server/routing/router.ts';
import { SessionRegistry } from '../src/server/session/registry.ts';
import { Session } from '../src/server/session/session.ts';
import type { PeerInfo } from '../src/server/transport/listener.ts';
import { encodeFrame, FrameDecoder, parseFrameText } from '../src/protocol/frame.ts';
import type { JsonData } from '../src/protocol/json-text.ts';
import { dataText } from './message-template.ts';

// The V8 flags the daemon sets itself (src/cli/besterd.ts), so that the path runs as it does there.
applyDaemonV8Flags();

const { values } = parseArgs({
  options: { messages: { type: 'string', default: '200000' }, window: { type: 'string', default: '16' }, rounds: { type: 'string', default: '5' } },
});
const messages = Math.max(1000, Number(values.messages));
const window = Math.max(1, Number(values.window));
const rounds = Math.max(1, Number(values.rounds));

const PEER: PeerInfo = { transport: 'pair', remoteAddress: null, remotePort: null, remote: 'pair', secure: false };
const data = dataText('bob', 100).replaceAll('#', '0');
const replyText = `{"id":1,"reply":{"header":{"status":"0","command":{"type":"sendClients","data":["bob"]}},"data":${data}}}`;
const replyBytes = Buffer.from(replyText);

/**
 * The reply as the multiplex link gives it: its frame parsed, the result's text found as it is
 * read (`find`, which a checkout before it ignores), the reply member taken.
 */
const REPLY_OPTIONS = { maxDepth: 65, find: Object.freeze(['reply', 'data']) }; // frozen, as the link's constant is
function reply(): JsonData {
  const frame = parseFrameText(replyBytes, REPLY_OPTIONS);
  return frame.member(['reply'], (frame.value as { reply: unknown }).reply);
}

/** Calls answered together, in the next turn (as one read of the handler's socket does). */
const waiting: Array<(reply: JsonData) => void> = [];
function answerAll(): void {
  for (const done of waiting.splice(0)) done(reply());
}
function later(done: (reply: JsonData) => void): void {
  if (waiting.length === 0) setImmediate(answerAll);
  waiting.push(done);
}

/** The length of the data texts handed to the handler (read as a link reads them, to write them). */
let written = 0;
// The handler caller in the form this checkout's router takes: a receiver (promisedCaller exists)
// or, in a checkout before it, a promise. Either way no promise is made here beyond what the path makes.
const r = routing as unknown as { promisedCaller?: unknown; Router: typeof routing.Router };
const callHandler =
  r.promisedCaller !== undefined
    ? (_h: unknown, d: JsonData, _o: unknown, receiver: { reply(v: unknown): void }): void => {
        written += d.source.length; // what a link writes into the handler's request
        later((v) => receiver.reply(v));
      }
    : (_h: unknown, d: JsonData): Promise<JsonData> => {
        written += d.source.length;
        return new Promise<JsonData>((resolve) => later(resolve));
      };

const { config } = parseConfig(
  {
    network: { types: ['tcp4'], tcp4: { port: '0', address: '127.0.0.1' } },
    handlers: { availableTypes: ['relay'], typeMap: { relay: { unixDomainSocketPath: '/nonexistent/relay.sock' } } },
  },
  { baseDir: '/' },
);
const accounts = new MemoryAccountStore();
await accounts.add('alice', 'pw');
await accounts.add('bob', 'pw');
const registry = new SessionRegistry<Session>();
const events = new ServerEvents();
let handled = 0;
events.on('message.handled', () => handled++); // as the daemon's stats listen
const router = new r.Router({ handlers: config.handlers, limits: config.limits, registry, logger: silentLogger(), events, callHandler });
const context = { config, accounts, registry, router, logger: silentLogger(), events, onClosed: () => undefined };

/** Frames counted on a stream, not parsed (the client's side, kept cheap). */
function counter(stream: NodeJS.ReadableStream, onFrame: () => void): void {
  const decoder = new FrameDecoder({ frame: onFrame, error: (err) => { throw err; } }, 1 << 20);
  stream.on('data', (chunk: Buffer) => decoder.push(chunk));
}

function connect(user: string, onFrame: () => void): (frame: Buffer) => void {
  const [client, server] = duplexPair();
  new Session(server, PEER, context, 0);
  counter(client, onFrame);
  client.write(encodeFrame({ header: { scope: 'client', authentication: { username: user, password: 'pw' } }, payload: { type: 'login', id: 'login', data: null } }));
  return (frame) => client.write(frame);
}

const message = (n: number): Buffer => encodeFrame(JSON.parse(`{"header":{},"payload":{"type":"relay","id":"m${n}","data":${data}}}`));
const frames = Array.from({ length: 64 }, (_, n) => message(n));

let reports = 0;
let deliveries = 0;
let wake: (() => void) | null = null;
const sendAlice = connect('alice', () => {
  reports++;
  wake?.();
});
connect('bob', () => deliveries++);
await new Promise((resolve) => setTimeout(resolve, 50)); // both logged in

/** Sends `count` messages with `window` in flight; resolves when all were answered. */
function run(count: number): Promise<void> {
  return new Promise((resolve) => {
    const base = reports;
    let sent = 0;
    const top = (): void => {
      while (sent < count && sent - (reports - base) < window) sendAlice(frames[sent++ % frames.length]!);
      if (reports - base >= count) {
        wake = null;
        resolve();
      }
    };
    wake = top;
    top();
  });
}

await run(Math.min(messages, 20_000)); // warm-up
const results: number[] = [];
for (let round = 0; round < rounds; round++) {
  const before = process.cpuUsage();
  await run(messages);
  const used = process.cpuUsage(before);
  results.push((used.user + used.system) / messages);
  process.stdout.write(`round ${round + 1}: ${(results.at(-1) ?? 0).toFixed(2)} µs/msg\n`);
}
results.sort((a, b) => a - b);
const median = results[Math.floor(results.length / 2)]!;
// The least round too: on this machine kind a process's speed switches between two levels for
// seconds at a time (docs/performance.md, "Reading the figures"), and the least is the code's own.
process.stdout.write(`least ${results[0]!.toFixed(2)} median ${median.toFixed(2)} µs/msg (${messages} messages a round, window ${window}; ${handled} handled, ${deliveries} delivered, ${written} bytes of data to the handler)\n`);
process.exit(0);
