#!/usr/bin/env node
// A handler call made the original way, measured alone (docs/performance.md, "Figures again, 2 Dec
// 2026, evening"): the daemon's call (src/server/handlers/handler-call.ts sendToHandler: a new
// connection, one frame, one reply, close) against the minimal relay's (bench/relay-call.ts
// callOnce, which bench/baseline-relay.ts uses), both to the same bench/relay-handler.ts process,
// in interleaved rounds. Each side gets the message's data as it has it on the message path: the
// daemon as a JsonData with the client's text, the relay as a parsed value it serialises. The
// reply is parsed by both.
//
//   node bench/original-call.ts [--size 100] [--window 128] [--calls 20000] [--rounds 7]
//
// Prints this process's CPU per call (user + system, µs) for each round, and the medians; and the
// handler process's CPU per call in the same rounds (from /proc), which a difference in how the
// two sides talk to it would move.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CallList, sendToHandler } from '../src/server/handlers/handler-call.ts';
import { JsonData } from '../src/protocol/json-text.ts';
import { dataText } from './message-template.ts';
import { cpuUs, median } from './measure.ts';
import { callOnce } from './relay-call.ts';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '100' },
    window: { type: 'string', default: '128' },
    calls: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '7' },
  },
});
const size = Number(values.size);
const window = Math.max(1, Number(values.window));
const calls = Math.max(window, Number(values.calls));
const rounds = Math.max(1, Math.min(99, Number(values.rounds)));
if (![size, window, calls, rounds].every(Number.isFinite)) throw new Error('--size, --window, --calls and --rounds take numbers');

const socketPath = path.join(os.tmpdir(), `bester-original-call-${process.pid}.sock`);
const handler = spawn(process.execPath, [path.join(import.meta.dirname, 'relay-handler.ts'), socketPath], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const stopHandler = (): void => {
  handler.kill();
  rmSync(socketPath, { force: true });
};
process.on('exit', stopHandler);
const [ready] = (await Promise.race([once(handler.stdout, 'data'), once(handler, 'exit')])) as unknown[];
if (!Buffer.isBuffer(ready)) throw new Error('bench/relay-handler.ts exited before it listened');

const text = dataText('bob', size).replaceAll('#', '0');
const value: unknown = JSON.parse(text);
const data = new JsonData(value, text);
const abort = new AbortController();
const list = new CallList();
const options = { timeoutMs: 30_000, maxReplyBytes: 1 << 24, maxJsonDepth: 65, signal: abort.signal };

type Call = (done: () => void, failed: (error: unknown) => void) => void;

const daemon: Call = (done, failed) => {
  sendToHandler(socketPath, data, options, { reply: () => done(), fail: failed }, list);
};
const relay: Call = (done, failed) => {
  callOnce(
    socketPath,
    JSON.stringify(value),
    (reply) => {
      JSON.parse(reply);
      done();
    },
    failed,
  );
};

/** µs of CPU per call, this process's and the handler's: `calls` calls, `window` in flight. */
function round(call: Call): Promise<{ own: number; handler: number }> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = 0;
    const started = process.cpuUsage();
    const handlerStarted = cpuUs(handler.pid!);
    const next = (): void => {
      answered++;
      if (sent < calls) {
        sent++;
        call(next, reject);
      } else if (answered === calls) {
        const used = process.cpuUsage(started);
        resolve({ own: (used.user + used.system) / calls, handler: (cpuUs(handler.pid!) - handlerStarted) / calls });
      }
    };
    for (; sent < window; ) {
      sent++;
      call(next, reject);
    }
  });
}

const results = { daemon: [] as number[], relay: [] as number[] };
const handlerResults = { daemon: [] as number[], relay: [] as number[] };
try {
  await round(daemon); // warm-up, not counted
  await round(relay);
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? (['daemon', 'relay'] as const) : (['relay', 'daemon'] as const);
    for (const name of order) {
      const used = await round(name === 'daemon' ? daemon : relay);
      results[name].push(used.own);
      handlerResults[name].push(used.handler);
    }
  }
} finally {
  abort.abort();
  stopHandler();
}
/** Each side's rounds and median, then the daemon's median over the relay's. */
function print(title: string, byName: { daemon: number[]; relay: number[] }, ratio: string): void {
  console.log(title);
  for (const [name, runs] of Object.entries(byName)) {
    console.log(`${name.padEnd(7)} ${runs.map((x) => x.toFixed(1)).join(' ')}  median ${median(runs).toFixed(1)}`);
  }
  console.log(`${ratio}: ${(median(byName.daemon) / median(byName.relay)).toFixed(2)}x`);
}
print(`original-mode call, ${size} B, ${window} in flight, ${calls} calls per round, µs of CPU per call`, results, 'daemon / relay');
print('the handler process, µs of CPU per call in the same rounds', handlerResults, 'handler called by the daemon / by the relay');
