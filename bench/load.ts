#!/usr/bin/env node
// Load generator for the relay flow "sender -> server -> relay handler -> server -> receiver,
// plus the sender's status report" (docs/performance.md). Every run is bounded in time.
//
//   node bench/load.ts [--target bester|baseline|nats|all] [--pairs 8] [--window 16] [--size 100]
//                      [--seconds 10] [--handler-mode original|persistent] [--pipeline-depth N]
//                      [--repeat N] [--matrix]
//
// Prints one JSON line per run, a table per load, then the medians over the --repeat rounds
// (targets interleaved) and bester's ratio to each baseline. --matrix runs both handler modes,
// P=1 W=1 and P=8 W=16, 100 B and 4 KiB (docs/performance.md).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { encodeFrame, FrameDecoder, parseFrameJson } from '../src/protocol/frame.ts';
import { openSqliteAccountStore } from '../src/server/accounts/sqlite-store.ts';
import { DAEMON_NODE_FLAGS } from '../src/cli/daemon-node-flags.ts';
import { Counters, measure } from './measure.ts';
import { natsInstalled, runNats } from './nats.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODE = process.execPath;

export interface RunOptions {
  target: 'bester' | 'baseline' | 'nats';
  pairs: number;
  window: number;
  size: number;
  seconds: number;
  handlerMode: 'original' | 'persistent';
  /** bester's limits.pipelineDepth; its default when absent (1: one message of a connection at a time). */
  pipelineDepth?: number;
}

export interface RunResult extends RunOptions {
  delivered: number;
  acknowledged: number;
  lost: number;
  deliveredPerSec: number;
  acknowledgedPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  serverCpuUsPerMsg: number;
  serverRssMb: number;
}



function start(args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const child = spawn(NODE, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
  child.on('error', () => undefined);
  return child;
}

/** Resolves with the first stdout line matching `re`, within 20 s. */
function waitLine(child: ChildProcess, re: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${re} within 20 s`)), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      const m = re.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
      if (buf.length > 1 << 20) buf = buf.slice(-4096);
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before it was ready`)));
  });
}

class Client {
  readonly socket: net.Socket;
  onFrame: (frame: { header: Record<string, unknown>; payload: Record<string, unknown> }) => void = () => undefined;
  constructor(port: number) {
    this.socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    this.socket.on('error', () => undefined);
    const d = new FrameDecoder({ frame: (b) => this.onFrame(parseFrameJson(b) as never), error: () => this.socket.destroy() }, 1 << 26);
    this.socket.on('data', (c: Buffer) => d.push(c));
  }
  login(user: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`login of ${user} timed out`)), 20_000);
      this.onFrame = (f) => {
        clearTimeout(timer);
        if (f.header.status === 'good') resolve();
        else reject(new Error(`login of ${user} refused: ${String(f.header.reason)}`));
      };
      this.socket.write(encodeFrame({ header: { scope: 'client', authentication: { username: user, password: 'bench-pw' } }, payload: { type: 'login', id: 'l', data: null } }));
    });
  }
}


async function startServer(o: RunOptions & { target: 'bester' | 'baseline' }, dir: string): Promise<{ port: number; pid: number; stop: () => void }> {
  const handlerSocket = path.join(dir, 'relay.sock');
  if (o.target === 'baseline') {
    const handler = start([path.join(ROOT, 'bench/relay-handler.ts'), handlerSocket]);
    await waitLine(handler, /listening/);
    const relay = start([path.join(ROOT, 'bench/baseline-relay.ts'), handlerSocket, o.handlerMode]);
    const [, port] = await waitLine(relay, /listening (\d+)/);
    return { port: Number(port), pid: relay.pid!, stop: () => { relay.kill('SIGTERM'); handler.kill('SIGTERM'); } };
  }
  const config = {
    network: { types: ['tcp4'], tcp4: { port: '0', address: '127.0.0.1' } },
    handlers: {
      availableTypes: ['relay'],
      typeMap: { relay: { handlerBinary: NODE, handlerArgs: [path.join(ROOT, 'bench/relay-handler.ts')], unixDomainSocketPath: 'relay.sock', ...(o.handlerMode === 'persistent' ? { protocol: 'multiplex' } : { protocol: 'original' }) } },
    },
    log: { level: 'info' },
    ...(o.pipelineDepth !== undefined ? { limits: { pipelineDepth: o.pipelineDepth } } : {}),
  };
  writeFileSync(path.join(dir, 'server.conf'), JSON.stringify(config));
  const store = await openSqliteAccountStore(path.join(dir, 'bester.db'));
  for (let i = 0; i < o.pairs; i++) {
    await store.add(`s${i}`, 'bench-pw');
    await store.add(`r${i}`, 'bench-pw');
  }
  await store.close();
  const daemon = start([...DAEMON_NODE_FLAGS, path.join(ROOT, 'src/cli/besterd.ts'), path.join(dir, 'server.conf')]);
  const [, port] = await waitLine(daemon, /tcp4:\/\/127\.0\.0\.1:(\d+)","msg":"listening"/);
  return { port: Number(port), pid: daemon.pid!, stop: () => daemon.kill('SIGTERM') };
}

export async function run(o: RunOptions): Promise<RunResult> {
  if (o.target === 'nats') return runNats(o, ROOT);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  const server = await startServer({ ...o, target: o.target }, dir);
  try {
    const pad = 'x'.repeat(Math.max(0, o.size - 40));
    const receivers: Client[] = [];
    const senders: Client[] = [];
    for (let i = 0; i < o.pairs; i++) {
      const r = new Client(server.port);
      await r.login(`r${i}`);
      receivers.push(r);
      const s = new Client(server.port);
      await s.login(`s${i}`);
      senders.push(s);
    }
    const c = new Counters();
    for (const r of receivers) {
      r.onFrame = (f) => c.deliveredAt((f.payload.data as { t: number }).t);
    }
    const sendOne = (s: Client, i: number): void => {
      c.sent++;
      s.socket.write(encodeFrame({ header: {}, payload: { type: 'relay', id: String(c.sent), data: { to: `r${i}`, t: performance.now(), pad } } }));
    };
    senders.forEach((s, i) => {
      s.onFrame = (f) => {
        if (f.header.status !== 'good') return;
        c.acknowledged++;
        if (c.sending) sendOne(s, i);
      };
    });
    const result = await measure(o, server.pid, c, () => {
      senders.forEach((s, i) => {
        for (let w = 0; w < o.window; w++) sendOne(s, i);
      });
    });
    for (const client of [...senders, ...receivers]) client.socket.destroy();
    return result;
  } finally {
    server.stop();
    await new Promise((r) => setTimeout(r, 300));
    rmSync(dir, { recursive: true, force: true });
  }
}

function table(results: RunResult[]): string {
  const rows = results.map((r) =>
    [r.target, r.handlerMode, `P=${r.pairs} W=${r.window}`, `${r.size} B`, r.deliveredPerSec, r.latencyMs.p50, r.latencyMs.p99, r.serverCpuUsPerMsg, r.serverRssMb, r.lost].join(' | '),
  );
  return ['target | handler mode | load | size | msgs/s | p50 ms | p99 ms | server µs/msg | RSS MB | lost', ...rows].join('\n');
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
}

export interface Comparison {
  readonly handlerMode: RunOptions['handlerMode'];
  readonly pairs: number;
  readonly window: number;
  readonly size: number;
  /** Median msgs/s of each target over the repeats. */
  readonly medians: Partial<Record<RunOptions['target'], number>>;
  /** Median of bester's server µs per message. */
  readonly besterCpuUsPerMsg: number | null;
  /** bester's median over each other target's median, in percent. */
  readonly ratios: Partial<Record<'baseline' | 'nats', number>>;
  readonly lost: number;
}

/** One load, every target, `repeat` interleaved rounds (bester, baseline, nats, bester, ...): medians and ratios. */
async function compare(base: Omit<RunOptions, 'target'>, targets: RunOptions['target'][], repeat: number): Promise<Comparison> {
  const results: RunResult[] = [];
  for (let round = 0; round < repeat; round++) {
    for (const target of targets) {
      const r = await run({ ...base, target });
      console.log(JSON.stringify(r));
      results.push(r);
    }
  }
  console.log(table(results));
  const medians: Comparison['medians'] = {};
  for (const target of targets) medians[target] = median(results.filter((r) => r.target === target).map((r) => r.deliveredPerSec));
  const ratios: Comparison['ratios'] = {};
  for (const other of ['baseline', 'nats'] as const) {
    if (medians.bester !== undefined && medians[other] !== undefined && medians[other] > 0) ratios[other] = Math.round((medians.bester / medians[other]) * 100);
  }
  const bester = results.filter((r) => r.target === 'bester');
  const comparison: Comparison = {
    handlerMode: base.handlerMode,
    pairs: base.pairs,
    window: base.window,
    size: base.size,
    medians,
    besterCpuUsPerMsg: bester.length > 0 ? median(bester.map((r) => r.serverCpuUsPerMsg)) : null,
    ratios,
    lost: results.reduce((sum, r) => sum + r.lost, 0),
  };
  console.log(JSON.stringify({ comparison }));
  return comparison;
}

function summary(rows: Comparison[]): string {
  const head = 'mode | load | size | bester msgs/s | baseline | NATS | bester / baseline | bester / NATS | bester µs/msg | lost';
  const lines = rows.map((c) =>
    [
      c.handlerMode,
      `P=${c.pairs} W=${c.window}`,
      `${c.size} B`,
      c.medians.bester ?? '-',
      c.medians.baseline ?? '-',
      c.medians.nats ?? '-',
      c.ratios.baseline !== undefined ? `${c.ratios.baseline}%` : '-',
      c.ratios.nats !== undefined ? `${c.ratios.nats}%` : '-',
      c.besterCpuUsPerMsg ?? '-',
      c.lost,
    ].join(' | '),
  );
  return [`medians of the rounds; targets: persistent mode >= 100% of NATS, original mode >= 85% of the baseline`, head, ...lines].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      target: { type: 'string', default: 'all' },
      pairs: { type: 'string', default: '8' },
      window: { type: 'string', default: '16' },
      size: { type: 'string', default: '100' },
      seconds: { type: 'string', default: '10' },
      'handler-mode': { type: 'string', default: 'original' },
      'pipeline-depth': { type: 'string' },
      repeat: { type: 'string', default: '1' },
      matrix: { type: 'boolean', default: false },
    },
  });
  const all: RunOptions['target'][] = natsInstalled() ? ['bester', 'baseline', 'nats'] : ['bester', 'baseline'];
  const targets = values.target === 'all' ? all : [values.target as RunOptions['target']];
  const repeat = Math.max(1, Math.min(10, Number(values.repeat)));
  const seconds = Math.min(120, Number(values.seconds));
  const pipeline = values['pipeline-depth'] !== undefined ? { pipelineDepth: Number(values['pipeline-depth']) } : {};
  // --matrix: the loads of docs/performance.md (both handler modes, P=1 W=1 and P=8 W=16, 100 B and 4 KiB).
  const loads = values.matrix
    ? (['original', 'persistent'] as const).flatMap((handlerMode) =>
        [[1, 1], [8, 16]].flatMap(([pairs, window]) => [100, 4096].map((size) => ({ handlerMode, pairs: pairs!, window: window!, size }))),
      )
    : [{ handlerMode: values['handler-mode'] as RunOptions['handlerMode'], pairs: Number(values.pairs), window: Number(values.window), size: Number(values.size) }];
  const rows: Comparison[] = [];
  for (const load of loads) rows.push(await compare({ ...load, seconds, ...pipeline }, targets, repeat));
  console.log(summary(rows));
}
