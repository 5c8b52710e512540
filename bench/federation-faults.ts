#!/usr/bin/env node
// Federation under a buggy or hostile peer (issue 15): the measurements, repeated. Real
// daemons on loopback (the flooded receiver in its own process, for its RSS) and a scripted peer
// holding the right secret (test/helpers/federation.ts).
//
//   node bench/federation-faults.ts [--only floods,poison,rewind,reports,window] [--scale 1] [--profile DIR]
//                                [--floods none,small,293KB,879KB]
//
// Prints one line per measurement, then one JSON line. `--scale` multiplies the flood sizes
// (1: 5,000 small frames, 150 of 293 KB to a 50 ms handler, 100 of 879 KB; the issue used 20,000,
// 1,500 and 4,903). `--profile DIR`: each flooded receiver writes a CPU profile there (node
// --cpu-prof; it is stopped with SIGTERM so that it writes it) and the highest figure of each of
// its memory spaces (bench/heap-space-sampler.ts). `--floods` picks floods. The local client whose
// round trips are timed runs in a process of its own (`--probe PORT`). The flood's frames are all
// sealed before it starts (the peer stands for another machine; sealing a MiB costs this process
// more CPU than the receiver spends on it); each flood line reports the CPU the receiver, its
// handlers and this process (the peer) used meanwhile, and how busy the machine's cores were.
// Not part of `npm test`. Exits 1 if a message was lost.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  ChildNode, FAULT_HANDLER, peerOf, ScriptedPeer, ScriptedReceiver, SECRET, TestNode, waitFor,
} from '../test/helpers/federation.ts';
import { loggedIn, message, type RawClient } from '../test/helpers/raw-client.ts';

type Frame = { header: Record<string, unknown>; payload: Record<string, unknown> };
const { values } = parseArgs({ options: { only: { type: 'string' }, scale: { type: 'string', default: '1' }, profile: { type: 'string' }, floods: { type: 'string' }, probe: { type: 'string' } } });
const only = new Set((values.only ?? 'floods,poison,rewind,reports,window').split(','));
const scale = Number(values.scale);
const results: Record<string, unknown> = {};
let failed = false;

function rssMb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** The children of `pid` (the receiver's handler processes). */
function childrenOf(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((x) => x !== '').map(Number);
  } catch {
    return [];
  }
}

/** The machine's busy and total CPU time so far (ms, all cores): how loaded the 2 cores were meanwhile. */
function machineCpu(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0) * 10;
  return { busy: total - (fields[3]! + fields[4]!) * 10, total };
}

/** CPU time the process used so far (user + system, ms): what a flood costs it, whatever else the machine runs. */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime in clock ticks (100 per second)
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** The flooded receiver's Node options: profiles written at its exit (`--profile`). */
function profiledStart(r: ChildNode): Promise<void> {
  const dir = values.profile;
  if (dir === undefined) return r.start();
  const before = process.env['NODE_OPTIONS'];
  const sampler = path.join(import.meta.dirname, 'heap-space-sampler.ts');
  process.env['NODE_OPTIONS'] = `--cpu-prof --cpu-prof-dir=${dir} --import ${sampler}`;
  process.env['BESTER_BENCH_MEMORY_DIR'] = dir;
  return r.start().finally(() => {
    if (before === undefined) delete process.env['NODE_OPTIONS'];
    else process.env['NODE_OPTIONS'] = before;
    delete process.env['BESTER_BENCH_MEMORY_DIR'];
  });
}

/** Stops a profiled receiver gracefully (SIGTERM) so that it writes its profiles; bounded to 20 s. */
async function profiledStop(r: ChildNode): Promise<void> {
  const pid = r.pid;
  if (values.profile === undefined || pid === undefined) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function user(port: number, name: string): Promise<RawClient> {
  return (await loggedIn({ port }, name, `${name}-pw`)).client;
}

type Latency = { p99: number; max: number; n: number };

/**
 * `--probe PORT` (the child below): a local client's round trips (builtin ping) every 5 ms until
 * its stdin ends, then the figures on stdout.
 */
async function probeMain(port: number): Promise<void> {
  const client = await user(port, 'carol');
  process.stdout.write('ready\n');
  const times: number[] = [];
  let running = true;
  process.stdin.on('end', () => {
    running = false;
  });
  process.stdin.resume();
  for (let i = 0; running && i < 1_000_000; i++) {
    const t0 = performance.now();
    client.send(message('ping', `ping-${i}`, null));
    await client.next(30_000);
    times.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 5));
  }
  client.close();
  const sorted = times.sort((a, b) => a - b);
  const result: Latency = { p99: Number(percentile(sorted, 0.99).toFixed(1)), max: Number((sorted.at(-1) ?? 0).toFixed(1)), n: sorted.length };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/**
 * The local client's probe in its own process: what it measures is the receiver's answer time, not
 * this process's event loop, which seals the flood's frames (up to a window of 879 KB frames at once).
 */
async function probe(port: number): Promise<{ stop: () => Promise<Latency> }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [import.meta.filename, '--probe', String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  child.on('error', () => undefined);
  child.stdin.on('error', () => undefined);
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const exited = new Promise<void>((res) => child.once('close', () => res()));
  // Logged in before the receiver's baseline is taken (a login's password check takes memory of its own).
  for (let i = 0; i < 300 && !out.includes('ready\n'); i++) await new Promise((res) => setTimeout(res, 50));
  return {
    stop: async () => {
      child.stdin.end();
      await exited;
      return JSON.parse(out.slice(out.indexOf('ready\n') + 6)) as Latency;
    },
  };
}

/** One flood on a receiver in its own process: an honest peer (keeps to the window) or one that ignores it. */
async function flood(label: string, count: number, bytes: number, sleepMs: number, honest: boolean): Promise<void> {
  const r = new ChildNode('fr', { handlers: ['M1'], script: FAULT_HANDLER, federation: { peers: { fp: { secret: SECRET } } } });
  try {
    await r.addUsers(['carol']);
    await profiledStart(r);
    const latency = await probe(r.port);
    const { peer, welcome } = await ScriptedPeer.open(r, 'fp');
    // Every frame sealed before the flood: the peer stands for another machine, and sealing a MiB
    // (serialising it twice, its MAC) costs more CPU than the receiver spends on it, on the same 2 cores.
    const data = { route: [{ sendClients: [] }], sleepMs, blob: 'x'.repeat(bytes) };
    const frames = Array.from({ length: count }, (_, i) => peer.sealed(ScriptedPeer.message(i + 1, data)));
    await new Promise((res) => setTimeout(res, 500));
    const baseline = rssMb(r.pid);
    const cpuBefore = cpuMs(r.pid);
    const handlers = childrenOf(r.pid);
    const handlerCpuBefore = handlers.reduce((sum, pid) => sum + cpuMs(pid), 0);
    const generatorCpuBefore = process.cpuUsage();
    const machineBefore = machineCpu();
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMb(r.pid));
    }, 50);
    const started = performance.now();
    let processed = 0;
    let outcome = 'all acknowledged';
    if (count === 0) {
      await new Promise((res) => setTimeout(res, 3000)); // no flood: the local client's latency alone
      outcome = 'no flood (3 s)';
    } else if (honest) {
      const window = Number(welcome.window ?? 64);
      let sent = 0;
      while (processed < count) {
        while (sent < count && sent - processed < window) peer.raw.write(frames[sent++]!);
        await peer.next(60_000, (p) => p.type === 'bester.ack');
        processed++;
      }
    } else {
      // Ignores acknowledgements: writes as fast as TCP takes it, until the receiver cuts it off.
      const socket = peer.raw.socket;
      let written = 0;
      for (let seq = 1; seq <= count && !socket.destroyed; seq++) {
        written++;
        if (!socket.write(frames[seq - 1]!)) {
          await new Promise<void>((res) => {
            const done = (): void => {
              socket.off('drain', done);
              socket.off('close', done);
              res();
            };
            socket.on('drain', done);
            socket.on('close', done);
          });
        }
      }
      // Then until the receiver cut it off, or acknowledged all it was sent (TCP held the peer back):
      // the flood lasts until its last message is worked off, not a moment longer.
      let acks = 0;
      let ended = 'no answer in 30 s';
      for (let i = 0; i <= written; i++) {
        const p = await peer.next(30_000, (f) => f.error !== undefined || f.type === 'bester.ack').catch(() => null);
        if (p === null) break;
        if (p.error !== undefined) {
          ended = JSON.stringify(p.error);
          break;
        }
        if (++acks === written) {
          ended = 'all acknowledged';
          break;
        }
      }
      outcome = `written ${written}, ${acks} acknowledged, then ${ended}`;
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpuMs(r.pid) - cpuBefore;
    // What else ran meanwhile: the receiver's handlers, this process (the peer: it seals every frame) and the whole machine.
    const handlerCpuMs = handlers.reduce((sum, pid) => sum + cpuMs(pid), 0) - handlerCpuBefore;
    const generator = process.cpuUsage(generatorCpuBefore);
    const machine = machineCpu();
    const machineBusyPct = Math.round((100 * (machine.busy - machineBefore.busy)) / Math.max(1, machine.total - machineBefore.total));
    clearInterval(sampler);
    const lat = await latency.stop();
    const line = { flood: label, honest, count, bytes, sleepMs, seconds: Number(seconds.toFixed(1)), rssBaselineMb: Math.round(baseline), rssPeakMb: Math.round(peak), rssDeltaMb: Math.round(peak - baseline), receiverCpuMs: cpu, handlerCpuMs, peerCpuMs: Math.round((generator.user + generator.system) / 1000), machineBusyPct, localP99Ms: lat.p99, localMaxMs: lat.max, outcome, ...(values.profile === undefined ? {} : { pid: r.pid }) };
    console.log(JSON.stringify(line));
    (results['floods'] as unknown[]).push(line);
    peer.close();
    await profiledStop(r);
  } finally {
    await r.destroy();
  }
}

async function floods(): Promise<void> {
  results['floods'] = [];
  const n = (x: number): number => Math.max(1, Math.round(x * scale));
  const kinds = new Set((values.floods ?? 'none,small,293KB,879KB').split(','));
  if (kinds.has('none')) await flood('none (baseline)', 0, 0, 0, true);
  for (const honest of [true, false]) if (kinds.has('small')) await flood('small', n(5000), 50, 0, honest);
  for (const honest of [true, false]) if (kinds.has('293KB')) await flood('293KB to a 50 ms handler', n(150), 293_000, 50, honest);
  for (const honest of [true, false]) if (kinds.has('879KB')) await flood('879KB', n(100), 879_000, 0, honest);
}

const nodes: TestNode[] = [];
function node(spec: ConstructorParameters<typeof TestNode>[0]): TestNode {
  const n = new TestNode({ script: FAULT_HANDLER, ...spec });
  nodes.push(n);
  return n;
}

async function poison(): Promise<void> {
  const b = node({ name: 'pb', handlers: ['M1'], users: ['bob'] });
  await b.start({ peers: { pa: { secret: SECRET } } });
  const a = await node({ name: 'pa', handlers: ['M1'], users: ['alice'] }).start({ peers: { pb: peerOf(b) } });
  const alice = await user(a.port, 'alice');
  const bob = await user(b.port, 'bob');
  const limit = 1024 * 1024;
  const replyOf = (n: number): string =>
    JSON.stringify({ header: { status: '0', command: { type: 'sendServers', data: ['pb'] } }, data: { route: [{ sendClients: ['bob'] }], trail: ['M1'], blob: 'x'.repeat(n) } });
  const inflate = limit - replyOf(0).length;
  alice.send(message('M1', 'big', { route: [{ sendServers: ['pb'], inflate }, { sendClients: ['bob'] }] }));
  const told = (await alice.next(5000)) as Frame;
  const started = Date.now();
  for (let i = 1; i <= 10; i++) {
    alice.send(message('M1', `after-${i}`, { route: [{ sendServers: ['pb'] }, { sendClients: ['bob'] }], n: i }));
    await alice.next(5000);
  }
  let delivered = 0;
  for (let i = 0; i < 10; i++) if ((await bob.next(5000).catch(() => null)) !== null) delivered++;
  await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - started))));
  const ups = a.log.lines.filter((l) => l.msg === 'peer link up').length;
  const line = {
    poison: 'a handler reply of exactly 1 MiB for a peer',
    senderTold: { status: told.header.status, code: told.header.code, reason: told.header.reason },
    reconnectsPerMinute: (ups - 1) * 6,
    deliveredBehindIt: `${delivered}/10`,
  };
  console.log(JSON.stringify(line));
  results['poison'] = line;
  alice.close();
  bob.close();
}

const DB_FILES = /\.db(-wal|-shm)?$/;
function copyDb(from: string, to: string): void {
  for (const f of readdirSync(to)) if (DB_FILES.test(f)) rmSync(path.join(to, f));
  for (const f of readdirSync(from)) if (DB_FILES.test(f)) copyFileSync(path.join(from, f), path.join(to, f));
}

async function countReceived(client: RawClient, max: number, quietMs = 1000): Promise<number> {
  let n = 0;
  for (let i = 0; i < max; i++) {
    if ((await client.next(quietMs).catch(() => null)) === null) break;
    n++;
  }
  return n;
}

async function sendEach(client: RawClient, from: number, count: number, route: unknown[]): Promise<string[]> {
  const servers: string[] = [];
  for (let n = from; n < from + count; n++) {
    client.send(message('M1', `m-${n}`, { route, n }));
    const r = (await client.next(5000)) as Frame;
    servers.push(Object.values((r.header.servers ?? {}) as Record<string, string>)[0] ?? String(r.header.code));
  }
  return servers;
}

async function rewind(): Promise<void> {
  // A sender restored from a backup, then 30 messages.
  const r2 = await node({ name: 'w2', handlers: ['M1'], users: ['bob'] }).start({ peers: { w1: { secret: SECRET } } });
  const r1 = node({ name: 'w1', handlers: ['M1'], users: ['alice'] });
  await r1.start({ peers: { w2: peerOf(r2) } });
  const bob = await user(r2.port, 'bob');
  const route = [{ sendServers: ['w2'] }, { sendClients: ['bob'] }];
  let alice = await user(r1.port, 'alice');
  await sendEach(alice, 1, 10, route);
  await r1.stop();
  const backup = path.join(r1.dir, 'backup');
  mkdirSync(backup);
  copyDb(r1.dir, backup);
  await r1.start({ peers: { w2: peerOf(r2) } });
  alice = await user(r1.port, 'alice');
  await sendEach(alice, 11, 20, route);
  await countReceived(bob, 30);
  await r1.stop();
  copyDb(backup, r1.dir);
  await r1.start({ peers: { w2: peerOf(r2) } });
  alice = await user(r1.port, 'alice');
  const reports = await sendEach(alice, 31, 30, route);
  const got = await countReceived(bob, 100, 2000);
  const restored = { rewind: 'sender restored from a backup, then 30 messages', delivered: got, lost: 30 - got, reports: tally(reports), seqDiverged: r1.server!.federation.counters['seq_diverged'] ?? 0 };
  console.log(JSON.stringify(restored));
  if (got < 30) failed = true;

  // A peer that once sends seq L + 1e9, then 20 real messages.
  const { peer } = await ScriptedPeer.open(r2, 'w1');
  peer.send(ScriptedPeer.message(1e9 + 100, { route: [{ sendClients: [] }] }, { origin: 'w1' }));
  await peer.next(5000, (p) => p.type === 'bester.ack');
  peer.close();
  await sendEach(alice, 61, 20, route);
  const jumped = await countReceived(bob, 100, 2000);
  const ahead = { rewind: 'a peer pushed the seq 1e9 ahead, then 20 messages', delivered: jumped, lost: 20 - jumped };
  console.log(JSON.stringify(ahead));
  if (jumped < 20) failed = true;

  // A receiver answering lastSeq = 1e12.
  const liar = await ScriptedReceiver.start('liar', 'w3');
  liar.lastSeq = 1e12;
  liar.ack = false;
  const w3 = await node({ name: 'w3', handlers: ['M1'], users: ['alice'] }).start({ peers: { liar: { address: liar.address, secret: SECRET } }, ackWaitMs: 300 });
  const carol = await user(w3.port, 'alice');
  const lies = await sendEach(carol, 1, 5, [{ sendServers: ['liar'] }]);
  await waitFor(() => liar.received.length === 5, 5000, 'the messages to be sent').catch(() => undefined);
  const lying = { rewind: 'a receiver claiming lastSeq 1e12', reports: tally(lies), actuallySent: liar.received.length, falselyDelivered: lies.filter((s) => s === 'delivered').length };
  console.log(JSON.stringify(lying));
  results['rewind'] = [restored, ahead, lying];
  liar.close();
  carol.close();
  alice.close();
  bob.close();
}

function tally(list: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of list) out[s] = (out[s] ?? 0) + 1;
  return out;
}

async function reports(): Promise<void> {
  const down = net.createServer();
  await new Promise<void>((r) => down.listen(0, '127.0.0.1', r));
  const port = (down.address() as net.AddressInfo).port;
  await new Promise<void>((r) => down.close(() => r()));
  const up = await node({ name: 'u2', handlers: ['M1'] }).start({ peers: { u1: { secret: SECRET } } });
  const f1 = await node({ name: 'u1', handlers: ['M1'], users: ['alice'] }).start({
    peers: { gone: { address: `127.0.0.1:${port}`, secret: SECRET }, u2: peerOf(up) },
  });
  const alice = await user(f1.port, 'alice');
  const timed = async (target: string, count: number): Promise<number> => {
    const started = performance.now();
    for (let i = 1; i <= count; i++) alice.send(message('M1', `${target}-${i}`, { route: [{ sendServers: [target] }] }));
    for (let i = 0; i < count; i++) await alice.next(30_000);
    return Number(((performance.now() - started) / 1000).toFixed(2));
  };
  const line = { reports: 'a pipelining sender', peerDown10Seconds: await timed('gone', 10), peerUp500Seconds: await timed('u2', 500) };
  console.log(JSON.stringify(line));
  results['reports'] = line;
  alice.close();
}

async function windowAfterExpiry(): Promise<void> {
  const mute = await ScriptedReceiver.start('mute', 'x1');
  mute.ack = false;
  const x1 = await node({ name: 'x1', handlers: ['M1'], users: ['alice'] }).start({ peers: { mute: { address: mute.address, secret: SECRET } }, outboxTtlMs: 1000, ackWaitMs: 50 });
  const alice = await user(x1.port, 'alice');
  await sendEach(alice, 1, 50, [{ sendServers: ['mute'] }]);
  await waitFor(() => (x1.server!.federation.counters['expired'] ?? 0) >= 50, 10_000, 'the 50 to expire');
  mute.ack = true;
  await sendEach(alice, 51, 30, [{ sendServers: ['mute'] }]);
  await waitFor(() => mute.received.length >= 80, 5000, 'the next 30').catch(() => undefined);
  const line = { window: '50 in-flight messages expired, then 30 more', sentOfNext30: mute.received.length - 50 };
  console.log(JSON.stringify(line));
  results['window'] = line;
  mute.close();
  alice.close();
}

if (values.probe !== undefined) {
  await probeMain(Number(values.probe));
} else {
  try {
    if (only.has('floods')) await floods();
    if (only.has('poison')) await poison();
    if (only.has('rewind')) await rewind();
    if (only.has('reports')) await reports();
    if (only.has('window')) await windowAfterExpiry();
  } finally {
    for (const n of nodes) await n.destroy();
  }
  console.log(JSON.stringify({ federationFaults: results, failed }));
  process.exitCode = failed ? 1 : 0;
}
