#!/usr/bin/env node
// What the parts of one relayed message cost the daemon when measured alone (docs/performance.md,
// "Targets"): the checks Bester makes and the minimal relay does not (the depth limit, the
// slices that pass data on as it was written), the JSON.parse both make, a connection's queue as
// an array against a Fifo, and a handler call's promises through the async layers of the message
// path against a plain callback. Frames are
// the bench's own at 100 B (bench/message-template.ts), as a client and a multiplex handler send them.
//
//   node bench/path-costs.ts [--ms 300]
//
// Each line is the median of 5 timed runs of about `ms` each, in ns per call, after a warm-up.
import { parseArgs } from 'node:util';
import { encodeJsonFrame, parseFrameText } from '../src/protocol/frame.ts';
import { Fifo } from '../src/protocol/fifo.ts';
import { jsonNestingDepth, jsonValueDeeper, scanMember } from '../src/protocol/json-scan.ts';
import { JsonData } from '../src/protocol/json-text.ts';
import { dataText } from './message-template.ts';

const { values } = parseArgs({ options: { ms: { type: 'string', default: '300' } } });
const runMs = Math.max(20, Number(values.ms));

const data = dataText('user3', 100).replaceAll('#', '0');
const client = `{"payload":{"type":"relay","id":"0000000123","data":${data}}}`;
const reply = `{"id":1234,"reply":{"header":{"status":"0","command":{"type":"sendClients","data":["user3"]}},"data":${data}}}`;
const clientBytes = Buffer.from(client);
const replyBytes = Buffer.from(reply);
const clientValue = JSON.parse(client) as { payload: { data: unknown } };
const replyValue = JSON.parse(reply) as { reply: { data: unknown } };
const delivery = `{"header":{"messageType":"receivedMessage"},"payload":{"data":${data},"type":"relay"}}`;
let sink = 0;
const PAYLOAD_DATA = ['payload', 'data'];
const REPLY_DATA = ['reply', 'data'];
const CLIENT_OPTIONS = { maxDepth: 64, find: PAYLOAD_DATA };
/** The client's data as the session takes it from its parsed frame. */
function clientData(frame: JsonData): JsonData {
  return frame.member(PAYLOAD_DATA, (frame.value as { payload: { data: unknown } }).payload.data);
}

/** A frame as encodeJsonFrame made it before it wrote into slabs: measured, allocated, then encoded. */
function measuredFrame(json: string): Buffer {
  const length = Buffer.byteLength(json);
  const frame = Buffer.allocUnsafe(4 + length);
  frame.writeUInt32LE(length, 0);
  frame.write(json, 4, 'utf8');
  return frame;
}

/** ns per call of `f`: calls in batches until `runMs` passed, 5 times; the median. */
function time(f: () => unknown): number {
  const batch = 1000;
  const runs: number[] = [];
  for (let run = 0; run < 6; run++) {
    let calls = 0;
    const started = performance.now();
    let elapsed = 0;
    // Bounded by the clock and by a call count, whichever comes first.
    while (elapsed < runMs && calls < 50_000_000) {
      for (let i = 0; i < batch; i++) if (f() === sink) sink++;
      calls += batch;
      elapsed = performance.now() - started;
    }
    if (run > 0) runs.push((elapsed * 1e6) / calls); // the first run is the warm-up
  }
  runs.sort((a, b) => a - b);
  return runs[2]!;
}

/** µs per message of a handler call's promise through four async layers, 64 resolved together (one read of replies). */
async function asyncLayers(messages: number): Promise<number> {
  const l4 = async (p: Promise<number>): Promise<number> => (await p) + 1;
  const l3 = async (p: Promise<number>): Promise<number> => (await l4(p)) + 1;
  const l2 = async (p: Promise<number>): Promise<number> => (await l3(p)) + 1;
  const l1 = async (p: Promise<number>): Promise<void> => {
    sink += await l2(p);
  };
  const started = performance.now();
  for (let done = 0; done < messages; done += 64) {
    const resolvers: Array<(value: number) => void> = [];
    const runs: Array<Promise<void>> = [];
    for (let j = 0; j < 64; j++) {
      const { promise, resolve } = Promise.withResolvers<number>();
      promise.then(
        () => undefined,
        () => undefined,
      ); // the handler pool's bookkeeping on every call
      resolvers.push(resolve);
      runs.push(l1(promise));
    }
    for (const resolve of resolvers) resolve(1);
    await Promise.all(runs);
  }
  return ((performance.now() - started) * 1000) / messages;
}

async function callbacks(messages: number): Promise<number> {
  const started = performance.now();
  for (let done = 0; done < messages; done += 64) {
    const callbacks: Array<(value: number) => void> = [];
    for (let j = 0; j < 64; j++) callbacks.push((value) => void (sink += value + 3));
    for (const callback of callbacks) callback(1);
    await Promise.resolve(); // one microtask turn, as the callbacks of one read would end
  }
  return ((performance.now() - started) * 1000) / messages;
}

/** A connection's queues between reads: empty, then one chunk or message, then empty again. */
const arrayQueue: Buffer[] = [];
const fifo = new Fifo<Buffer>();

const rows: Array<[string, number]> = [
  ['client frame: UTF-8 decode + JSON.parse + depth check (parseFrameText)', time(() => parseFrameText(clientBytes, { maxDepth: 64 }))],
  ['client frame: JSON.parse alone', time(() => JSON.parse(client))],
  ['client frame: depth read from its bytes', time(() => jsonNestingDepth(clientBytes, 64))],
  ['client frame: depth walked on the value', time(() => jsonValueDeeper(clientValue, 64))],
  ['client frame: slice payload.data', time(() => new JsonData(clientValue, client).member(['payload', 'data'], clientValue.payload.data).source)],
  ['handler reply: JSON.parse alone', time(() => JSON.parse(reply))],
  ['handler reply: depth read from its bytes', time(() => jsonNestingDepth(replyBytes, 65))],
  ['handler reply: depth walked on the value', time(() => jsonValueDeeper(replyValue, 65))],
  [
    'handler reply: slice reply.data (one pass)',
    time(() => new JsonData(replyValue, reply).member(['reply'], replyValue.reply).member(['data'], replyValue.reply.data).source),
  ],
  ['client frame: payload.data found and depth read in one pass (scanMember)', time(() => scanMember(clientBytes, PAYLOAD_DATA)?.end)],
  ['handler reply: reply.data found and depth read in one pass (scanMember)', time(() => scanMember(replyBytes, REPLY_DATA)?.end)],
  ['client frame: parseFrameText with find, data handed on (the daemon now)', time(() => clientData(parseFrameText(clientBytes, CLIENT_OPTIONS)).source)],
  ['client frame: parseFrameText, then data sliced (the daemon before)', time(() => clientData(parseFrameText(clientBytes, { maxDepth: 64 })).source)],
  ['data: JSON.stringify (what a relay does instead of slicing)', time(() => JSON.stringify(clientValue.payload.data))],
  ['delivery frame: encodeJsonFrame (one pass into a slab)', time(() => encodeJsonFrame(delivery))],
  ['delivery frame: byteLength, allocUnsafe, write (the way before)', time(() => measuredFrame(delivery))],
  ['queue: one pushed and taken, an array (the decoder and pipeline before)', time(() => (arrayQueue.push(clientBytes), arrayQueue.shift()))],
  ['queue: one pushed and taken, a Fifo', time(() => (fifo.push(clientBytes), fifo.shift()))],
];
for (const [what, ns] of rows) console.log(`${what.padEnd(72)} ${ns.toFixed(0).padStart(6)} ns`);
await asyncLayers(200_000);
await callbacks(200_000);
const layered: number[] = [];
const plain: number[] = [];
for (let round = 0; round < 5; round++) {
  layered.push(await asyncLayers(1_000_000));
  plain.push(await callbacks(1_000_000));
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[2]!;
console.log(`${'a reply through four async layers (+ the pool then), per message'.padEnd(72)} ${(median(layered) * 1000).toFixed(0).padStart(6)} ns`);
console.log(`${'a reply to a plain callback, per message'.padEnd(72)} ${(median(plain) * 1000).toFixed(0).padStart(6)} ns`);
if (sink === -1) console.log(sink); // keeps the results alive
