#!/usr/bin/env node
// What writing one relayed message's frames costs the daemon, measured alone (docs/performance.md,
// "Frames written from bytes"): the multiplex request with the client's data, the delivery with
// the handler's result, and the good status report, each encoded into a frame as the daemon does
// it, from data found in frames as the daemon reads them. Frames are the bench's own at 100 B
// (bench/message-template.ts), as a client and a multiplex handler send them.
//
//   node bench/encode-frames.ts [--root DIR]... [--rounds 7] [--messages 200000]
//
// Several --root checkouts (e.g. a `git worktree` of the code before a change) are timed in
// turn, round by round, in separate processes, and printed side by side: each line is a root's
// median and least ns per message (three frames) over its rounds, after a warm-up round.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dataText } from './message-template.ts';

const { values } = parseArgs({
  options: {
    root: { type: 'string', multiple: true },
    rounds: { type: 'string', default: '7' },
    messages: { type: 'string', default: '200000' },
    child: { type: 'boolean', default: false },
  },
});
const here = path.resolve(import.meta.dirname, '..');
const rounds = Math.min(50, Math.max(1, Number(values.rounds)));
const messages = Math.min(10_000_000, Math.max(1000, Number(values.messages)));

interface Encoders {
  request(id: number, input: unknown): unknown;
  delivery(type: string, data: unknown): unknown;
  goodReport(id: string): unknown;
}

// What the bench uses of a root's modules (imported from that root's files, so typed here).
interface FrameModule {
  encodeJsonPieces(pieces: readonly unknown[]): unknown;
  encodeJsonFrame(json: string): unknown;
  parseFrameText(body: Buffer, options: { maxDepth: number; find: readonly string[] }): unknown;
}
interface MultiplexModule {
  multiplexRequestPieces(id: number, input: unknown): unknown[];
}
interface PiecesModule {
  deliveryPieces(type: string, data: unknown): unknown[];
  goodReportFrame(id: string): unknown;
}
interface OldBuildersModule {
  deliveryPieces(type: string, data: unknown): unknown[];
  goodReportJson(id: string): string;
}

/** The root's own encoders; a root from before src/protocol/frame-pieces.ts (97736f2 and earlier) had them in builders.ts. */
async function encodersOf(root: string): Promise<{ encoders: Encoders; parse: (body: Buffer, find: readonly string[]) => unknown }> {
  const frame = (await import(path.join(root, 'src/protocol/frame.ts'))) as FrameModule;
  const multiplex = (await import(path.join(root, 'src/protocol/handler-multiplex.ts'))) as MultiplexModule;
  let delivery: (type: string, data: unknown) => unknown;
  let goodReport: (id: string) => unknown;
  try {
    const pieces = (await import(path.join(root, 'src/protocol/frame-pieces.ts'))) as PiecesModule;
    delivery = (type, data) => frame.encodeJsonPieces(pieces.deliveryPieces(type, data));
    goodReport = (id) => pieces.goodReportFrame(id);
  } catch {
    const builders = (await import(path.join(root, 'src/protocol/builders.ts'))) as OldBuildersModule;
    delivery = (type, data) => frame.encodeJsonPieces(builders.deliveryPieces(type, data));
    goodReport = (id) => frame.encodeJsonFrame(builders.goodReportJson(id));
  }
  return {
    encoders: { request: (id, input) => frame.encodeJsonPieces(multiplex.multiplexRequestPieces(id, input)), delivery, goodReport },
    parse: (body, find) => frame.parseFrameText(body, { maxDepth: 65, find }),
  };
}

interface Found {
  member(path: readonly string[], value: unknown): Found;
  readonly value: unknown;
}

async function child(root: string): Promise<void> {
  const { encoders, parse } = await encodersOf(root);
  // 64 senders and recipients, so that no one text is the only one seen.
  const inputs: unknown[] = [];
  const results: unknown[] = [];
  const ids: string[] = [];
  const PAYLOAD_DATA = Object.freeze(['payload', 'data']);
  const REPLY_DATA = Object.freeze(['reply', 'data']);
  for (let i = 0; i < 64; i++) {
    const user = `user${i % 8}`;
    const data = dataText(user, 100).replaceAll('#', String(i % 10));
    const id = `00000${1000 + i}`;
    const client = parse(Buffer.from(`{"payload":{"type":"relay","id":"${id}","data":${data}}}`), PAYLOAD_DATA) as Found;
    const clientValue = client.value as { payload: { data: unknown } };
    inputs.push(client.member(PAYLOAD_DATA, clientValue.payload.data));
    const reply = parse(Buffer.from(`{"id":${i},"reply":{"header":{"status":"0","command":{"type":"sendClients","data":["${user}"]}},"data":${data}}}`), REPLY_DATA) as Found;
    const replyValue = (reply.value as { reply: { data: unknown } }).reply;
    results.push(reply.member(['reply'], replyValue).member(['data'], replyValue.data));
    ids.push(id);
  }
  let sink = 0;
  const lengthOf = (frame: unknown): number => (Array.isArray(frame) ? frame.length : (frame as Buffer).length);
  const times: number[] = [];
  for (let round = 0; round <= rounds; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < messages; i++) {
      const k = i & 63;
      sink += lengthOf(encoders.request(i, inputs[k]));
      sink += lengthOf(encoders.delivery('relay', results[k]));
      sink += lengthOf(encoders.goodReport(ids[k]!));
    }
    if (round > 0) times.push(Number(process.hrtime.bigint() - start) / messages); // round 0 warms up
  }
  if (sink === 0) throw new Error('nothing was encoded');
  process.stdout.write(`${JSON.stringify(times)}\n`);
}

if (values.child) {
  await child(path.resolve(values.root?.[0] ?? here));
} else {
  const roots = (values.root ?? [here]).map((root) => path.resolve(root));
  const times = new Map<string, number[]>(roots.map((root) => [root, []]));
  // Interleaved: one process per root and round, in turn, so that the machine's phases fall on all of them.
  for (let round = 0; round < rounds; round++) {
    for (const root of roots) {
      const run = spawnSync(process.execPath, [import.meta.filename, '--child', '--root', root, '--rounds', '1', '--messages', String(messages)], {
        encoding: 'utf8',
        timeout: 5 * 60_000,
      });
      if (run.status !== 0) throw new Error(`encode-frames on ${root} exited ${run.status}:\n${run.stderr.slice(-2000)}`);
      times.get(root)!.push(...(JSON.parse(run.stdout) as number[]));
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const first = median(times.get(roots[0]!)!);
  for (const root of roots) {
    const xs = times.get(root)!;
    const m = median(xs);
    const ratio = root === roots[0] ? '' : `, ${((100 * m) / first).toFixed(1)}% of the first`;
    process.stdout.write(`median ${m.toFixed(0)} ns, least ${Math.min(...xs).toFixed(0)} ns per message (three frames) ${root}${ratio} (${xs.length} rounds of ${messages})\n`);
  }
}
