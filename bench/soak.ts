#!/usr/bin/env node
// Soak: a real daemon (`node src/cli/besterd.ts`) in a temp dir, for a bounded time, under good,
// slow, malicious and flapping clients, with its handler crashing now and then. Samples the
// daemon's RSS; checks that every acknowledged message was delivered exactly once.
//
//   node bench/soak.ts [--seconds 120] [--good 8] [--window 4] [--slow 2] [--malicious 4]
//                      [--flapping 4] [--crash-every-ms 5000]
//
// Prints a short table, then one JSON line. Exits 1 if anything acknowledged was lost or
// duplicated, a message went unanswered, or the daemon died or did not stop cleanly. Not part of
// `npm test` (a test runs it for a few seconds as a smoke check); `npm run soak` runs it.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { encodeFrame, FrameDecoder, parseFrameJson } from '../src/protocol/frame.ts';
import { openSqliteAccountStore } from '../src/server/accounts/sqlite-store.ts';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../src/cli/daemon-node-flags.ts';
import {
  Barrier,
  Counts,
  crasher,
  flappingClient,
  goodClient,
  Ledger,
  maliciousClient,
  password,
  slowClient,
  type SoakContext,
} from './soak-clients.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BESTERD = path.join(ROOT, 'src/cli/besterd.ts');
const FAKE_HANDLER = path.join(ROOT, 'test/fixtures/handlers/fake-handler.ts');

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '120' },
    good: { type: 'string', default: '8' },
    window: { type: 'string', default: '4' },
    slow: { type: 'string', default: '2' },
    malicious: { type: 'string', default: '4' },
    flapping: { type: 'string', default: '4' },
    'crash-every-ms': { type: 'string', default: '5000' },
  },
});
const num = (name: keyof typeof args): number => {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number, got ${String(args[name])}`);
  return n;
};
const seconds = Math.max(1, num('seconds'));
const goodCount = Math.max(2, num('good'));

/** `promise`'s value, or `fallback` after `ms` (the timer is cleared either way). */
async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  const ac = new AbortController();
  try {
    return await Promise.race([promise, sleep(ms, fallback, { signal: ac.signal })]);
  } finally {
    ac.abort();
  }
}

/** At most `n` evenly spaced values of `values`, the last one included: the RSS trend in the JSON line. */
function downsample(values: readonly number[], n: number): number[] {
  if (values.length <= n) return [...values];
  return Array.from({ length: n }, (_, i) => values[Math.round((i * (values.length - 1)) / (n - 1))]!);
}

function rssKiB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

async function setUp(dir: string, users: readonly string[]): Promise<string> {
  const store = await openSqliteAccountStore(path.join(dir, 'bester.db'));
  for (const user of users) await store.add(user, password(user));
  await store.close();
  const file = path.join(dir, 'server.conf');
  writeFileSync(
    file,
    JSON.stringify({
      network: { types: ['tcp4', 'unix'], tcp4: { port: '0', address: '127.0.0.1' }, unix: { address: 'b.sock' } },
      handlers: {
        availableTypes: ['work'],
        typeMap: { work: { handlerBinary: process.execPath, handlerArgs: [FAKE_HANDLER], unixDomainSocketPath: 'work.sock', timeoutMs: 5000 } },
      },
      limits: { loginTimeoutMs: 2000 },
      supervision: { restartDelayMs: 100, maxRestartDelayMs: 1000 },
      shutdown: { graceMs: 5000 },
      log: { level: 'info' },
    }),
  );
  return file;
}

/** One informer request, answered or null within 3 s. */
async function informer(socketPath: string, command: unknown): Promise<unknown> {
  return new Promise((resolve) => {
    const socket = net.connect({ path: socketPath });
    const timer = setTimeout(() => socket.destroy(), 3000);
    const decoder = new FrameDecoder({ frame: (b) => finish(parseFrameJson(b)), error: () => finish(null) }, 1 << 24);
    const finish = (value: unknown): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('error', () => finish(null));
    socket.on('close', () => finish(null));
    socket.on('connect', () => socket.write(encodeFrame({ command })));
  });
}

async function main(): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bester-soak-'));
  const good = Array.from({ length: goodCount }, (_, i) => `good${i}`);
  const slow = Array.from({ length: num('slow') }, (_, i) => `slow${i}`);
  const flapping = Array.from({ length: num('flapping') }, (_, i) => `flap${i}`);
  const file = await setUp(dir, [...good, ...slow, ...flapping, 'mallory', 'eve', 'crasher']);

  const daemon = spawn(process.execPath, [...DAEMON_NODE_FLAGS, BESTERD, file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...DAEMON_ENV } });
  daemon.on('error', () => undefined);
  const exited = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)));
  let diedEarly = false;
  void exited.then(() => (diedEarly = !stopping));
  let stopping = false;
  const serverCloses: Record<string, number> = {};
  const stderr: string[] = [];
  createInterface({ input: daemon.stderr }).on('line', (line) => stderr.push(line));
  const started = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`besterd did not start in 20 s: ${stderr.join('\n')}`)), 20_000);
    createInterface({ input: daemon.stdout }).on('line', (line) => {
      let entry: { msg?: string; code?: string; listeners?: string[] };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        return;
      }
      if ((entry.msg === 'closing connection' || entry.msg === 'connection refused') && entry.code) {
        serverCloses[entry.code] = (serverCloses[entry.code] ?? 0) + 1;
      }
      if (entry.msg === 'besterd started') {
        clearTimeout(timer);
        resolve(Number(entry.listeners?.find((a) => a.startsWith('tcp4://'))?.split(':').pop()));
      }
    });
  });
  let port: number;
  try {
    port = await started;
  } catch (err) {
    daemon.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const pid = daemon.pid!;

  const rss: number[] = [];
  const sample = (): void => {
    const kib = rssKiB(pid);
    if (kib !== null) rss.push(kib);
  };
  sample();
  const sampler = setInterval(sample, Math.min(2000, Math.max(250, (seconds * 1000) / 10)));

  const ctx: SoakContext = { port, stopping: false, ledger: new Ledger(), counts: new Counts(), goodDone: new Barrier(good.length) };
  const startedAt = performance.now();
  const tasks = [
    ...good.map((user, i) => goodClient(ctx, user, good[(i + 1) % good.length]!, 'work', num('window'))),
    ...slow.map((user) => slowClient(ctx, user, 'work')),
    ...Array.from({ length: num('malicious') }, () => maliciousClient(ctx)),
    ...flapping.map((user) => flappingClient(ctx, user)),
    crasher(ctx, 'crasher', 'work', Math.max(500, num('crash-every-ms'))),
  ];
  while (performance.now() - startedAt < seconds * 1000 && !diedEarly) await sleep(100);
  ctx.stopping = true;
  const settled = await within(Promise.all(tasks).then(() => true), 90_000, false);
  const runSeconds = Math.round((performance.now() - startedAt) / 100) / 10;
  sample();
  clearInterval(sampler);
  const rssEnd = rss.at(-1) ?? 0;
  const info = (await informer(path.join(dir, 'informer.sock'), { type: 'serverInfo' })) as {
    data?: { handlers?: Array<{ type: string; restarts: number }>; connections?: number };
  } | null;

  stopping = true;
  daemon.kill('SIGTERM');
  const exitCode = await within(exited, 30_000, 'timeout' as const);
  if (exitCode === 'timeout') daemon.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });

  const messages = { sent: ctx.ledger.sent, ...ctx.ledger.summary(), unanswered: ctx.ledger.unanswered };
  const refusedTotal = Object.values(ctx.counts.refused).reduce((a, b) => a + b, 0);
  const failures: string[] = [];
  if (messages.lost > 0) failures.push(`${messages.lost} acknowledged messages lost`);
  if (messages.duplicated > 0) failures.push(`${messages.duplicated} duplicate deliveries`);
  if (messages.unanswered > 0) failures.push(`${messages.unanswered} messages never answered`);
  if (diedEarly) failures.push('the daemon died during the run');
  if (exitCode !== 0) failures.push(`the daemon's exit after SIGTERM: ${String(exitCode)}`);
  if (!settled) failures.push('clients did not finish within 90 s of the end');
  const result = {
    seconds: runSeconds,
    clients: { good: good.length, window: num('window'), slow: slow.length, malicious: num('malicious'), flapping: flapping.length },
    messages: { ...messages, refused: refusedTotal, refusedByCode: ctx.counts.refused },
    rssKiB: { start: rss[0] ?? 0, max: Math.max(0, ...rss), end: rssEnd, samples: rss.length, series: downsample(rss, 12) },
    handlerRestarts: info?.data?.handlers?.find((h) => h.type === 'work')?.restarts ?? null,
    closes: { seenByClients: ctx.counts.closes, byServer: serverCloses },
    events: ctx.counts.events,
    daemonExit: exitCode,
    ok: failures.length === 0,
    failures,
  };
  const table = [
    `soak: ${runSeconds} s against besterd pid ${pid}`,
    `messages  sent ${messages.sent}  acknowledged ${messages.acknowledged}  refused ${refusedTotal}  unanswered ${messages.unanswered}`,
    `          delivered ${messages.delivered}  lost ${messages.lost}  duplicated ${messages.duplicated}`,
    `rss KiB   start ${result.rssKiB.start}  max ${result.rssKiB.max}  end ${result.rssKiB.end}  (${rss.length} samples)`,
    `handler   restarts ${String(result.handlerRestarts)}  crashes requested ${ctx.counts.events['crashes requested'] ?? 0}`,
    `closes    ${Object.entries(serverCloses).map(([k, v]) => `${k} ${v}`).join('  ') || 'none'}`,
    `exit      ${String(exitCode)}${failures.length > 0 ? `  FAILED: ${failures.join('; ')}` : '  ok'}`,
  ];
  console.log(table.join('\n'));
  console.log(JSON.stringify(result));
  if (failures.length > 0 && stderr.length > 0) console.error(stderr.slice(-20).join('\n'));
  return failures.length === 0 ? 0 : 1;
}

process.exitCode = await main();
