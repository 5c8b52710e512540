#!/usr/bin/env node
// Issue 11's measurements repeated against a real besterd with DEFAULT limits (docs/security.md):
// password-check floods over TCP and the UNIX socket, a connection flood, one user's load on a slow
// handler, offline disk growth with 200 KB messages, and the hostile usernames. Starts besterd as a
// child process (DAEMON_NODE_FLAGS, DAEMON_ENV) with a tcp4 listener on 127.0.0.1 port 0, a unix
// listener and the slow handler test/fixtures/handlers/fake-handler.ts (mode delay); users are
// stored with the default scrypt parameters, so every password check costs what it costs in use.
// Prints one line per measurement, then a JSON summary. Beside the figures it prints a
// reference login with no flood, when the wrong-password floods were read (their last server_busy
// answer) and a second correct login after that, and the kernel's listen overflows, to tell the
// queue of password checks from the burst of accepting and reading the flood. Bounded: every loop counts, every wait has
// a deadline, and the whole run gives up after 5 minutes; the daemon is stopped and its temp dir
// removed at the end.
//   PATH=$PWD/node_modules/.bin:$PATH node bench/floods.ts
// The fd limit is raised here (`ulimit -n 30000`, or the hard limit if that is lower), for this
// script and the daemon it starts (11,000 sockets on each side), never in the daemon's code.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../src/cli/daemon-node-flags.ts';
import { encodeFrame, FrameDecoder, parseFrameJson } from '../src/protocol/frame.ts';
import { openSqliteAccountStore } from '../src/server/accounts/sqlite-store.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FAKE_HANDLER = path.join(ROOT, 'test/fixtures/handlers/fake-handler.ts');
const { values } = parseArgs({ options: { child: { type: 'boolean' } } });

interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

type Target = { port: number; from?: string } | { path: string };

/** A client socket: frames queued as they come, closed and connected remembered. */
class Conn {
  readonly socket: net.Socket;
  readonly frames: Frame[] = [];
  connected = false;
  closed = false;
  /** performance.now() when the first frame came (null: none yet). */
  firstAt: number | null = null;
  #waiters: Array<() => void> = [];

  constructor(target: Target) {
    this.socket =
      'path' in target
        ? net.connect(target.path)
        : net.connect({ port: target.port, host: '127.0.0.1', ...(target.from !== undefined ? { localAddress: target.from } : {}) });
    this.socket.on('error', () => undefined);
    const decoder = new FrameDecoder({ frame: (b) => this.#push(parseFrameJson(b) as Frame), error: () => this.socket.destroy() }, 1 << 20);
    this.socket.on('data', (c: Buffer) => decoder.push(c));
    this.socket.on('connect', () => {
      this.connected = true;
      this.#wake();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
  }

  send(value: unknown): void {
    this.socket.write(encodeFrame(value));
  }

  /** Resolves once connected or closed, or after timeoutMs. */
  settled(timeoutMs: number): Promise<void> {
    return this.#until(() => this.connected || this.closed, timeoutMs);
  }

  /** The next frame, or null if the connection closed or timeoutMs passed first. */
  async next(timeoutMs: number): Promise<Frame | null> {
    await this.#until(() => this.frames.length > 0 || this.closed, timeoutMs);
    return this.frames.shift() ?? null;
  }

  async #until(done: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done() && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(250, Math.max(1, deadline - Date.now())));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  #push(frame: Frame): void {
    this.firstAt ??= performance.now();
    this.frames.push(frame);
    this.#wake();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

const login = (username: string, password: string): object => ({
  header: { scope: 'client', authentication: { username, password } },
  payload: { type: 'login', id: 'login', data: null },
});
const message = (id: string, data: unknown): object => ({ header: {}, payload: { type: 'slow', id, data } });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const answerOf = (f: Frame | null): string => (f === null ? 'no answer' : f.header.status === 'good' ? 'good' : String(f.header.code ?? f.header.status));
/** 127.0.<block + a div 250>.<a mod 250 + 1>: distinct loopback source addresses per measurement. */
const address = (block: number, a: number): string => `127.0.${block + Math.floor(a / 250)}.${(a % 250) + 1}`;

/**
 * TcpExtListenOverflows of this network namespace (/proc/net/netstat): connections the kernel
 * could not queue for accept (the daemon's backlog is 511), whose clients then retransmit. Shared
 * with every other process of the namespace; null where it cannot be read.
 */
function listenOverflows(): number | null {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    for (let i = 0; i + 1 < lines.length; i += 2) {
      if (!lines[i]!.startsWith('TcpExt:')) continue;
      const names = lines[i]!.split(' ');
      const at = names.indexOf('ListenOverflows');
      return at === -1 ? null : Number(lines[i + 1]!.split(' ')[at]);
    }
  } catch {
    // not Linux
  }
  return null;
}

function tally(items: Iterable<string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of items) out[k] = (out[k] ?? 0) + 1;
  return out;
}

async function main(): Promise<void> {
  const started = Date.now();
  const deadline = started + 5 * 60_000;
  const left = (): number => Math.max(0, deadline - Date.now());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-floods-'));
  const conf = path.join(dir, 'server.conf');
  const db = path.join(dir, 'bester.db');
  const all = new Set<Conn>();
  let daemon: ChildProcess | null = null;
  const summary: Record<string, unknown> = {};

  const cleanup = async (): Promise<void> => {
    for (const c of all) c.socket.destroy();
    if (daemon !== null && daemon.exitCode === null && daemon.signalCode === null) {
      const d = daemon;
      const exited = new Promise((r) => d.once('exit', r));
      d.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (d.exitCode === null && d.signalCode === null) d.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const giveUp = setTimeout(() => {
    console.error('gave up after 5 minutes');
    void cleanup().finally(() => process.exit(2));
  }, 5 * 60_000);

  const open = (target: Target): Conn => {
    const c = new Conn(target);
    all.add(c);
    return c;
  };
  const closeAll = async (conns: readonly Conn[]): Promise<void> => {
    for (const c of conns) {
      c.socket.destroy();
      all.delete(c);
    }
    await sleep(500); // the daemon sees the closes
  };
  /** Opens `count` connections in batches, each batch waited for (connected or refused). */
  const openMany = async (count: number, target: (i: number) => Target, batch = 250): Promise<Conn[]> => {
    const out: Conn[] = [];
    for (let i = 0; i < count && left() > 30_000; i += batch) {
      const group = Array.from({ length: Math.min(batch, count - i) }, (_, k) => open(target(i + k)));
      await Promise.all(group.map((c) => c.settled(10_000)));
      out.push(...group);
    }
    return out;
  };
  /** A correct login: its answer, ms from sending its frame (once connected) to the answer, and the connect's ms. */
  const timedLogin = async (target: Target, user: string, password: string): Promise<{ conn: Conn; answer: string; ms: number; connectMs: number }> => {
    const t = performance.now();
    const conn = open(target);
    await conn.settled(10_000);
    const t0 = performance.now();
    conn.send(login(user, password));
    const answer = answerOf(await conn.next(15_000));
    return { conn, answer, ms: Math.round(performance.now() - t0), connectMs: Math.round(t0 - t) };
  };
  /** Change of listenOverflows() since `before` (null: unreadable). */
  const overflowsSince = (before: number | null): number | null => {
    const now = listenOverflows();
    return before === null || now === null ? null : now - before;
  };
  /** What each flood connection got first (after waiting up to timeoutMs for every one). */
  const floodAnswers = async (conns: readonly Conn[], timeoutMs: number): Promise<Record<string, number>> => {
    const until = Date.now() + Math.min(timeoutMs, left());
    while (Date.now() < until && conns.some((c) => c.frames.length === 0 && !c.closed)) await sleep(100);
    return tally(conns.map((c) => (c.frames.length > 0 ? answerOf(c.frames[0]!) : c.closed ? 'closed without answer' : 'no answer yet')));
  };

  try {
    // Accounts with the default scrypt parameters, stored before the daemon starts.
    const offline = Array.from({ length: 16 }, (_, i) => `away${i}`);
    const store = await openSqliteAccountStore(db);
    for (const name of ['alice', 'bob', ...offline]) await store.add(name, `${name}-pw`);
    await store.close();
    writeFileSync(
      conf,
      JSON.stringify({
        network: { types: ['tcp4', 'unix'], tcp4: { port: '0', address: '127.0.0.1' }, unix: { address: path.join(dir, 'bester.sock') } },
        handlers: {
          availableTypes: ['slow'],
          typeMap: { slow: { handlerBinary: process.execPath, handlerArgs: [FAKE_HANDLER], unixDomainSocketPath: path.join(dir, 'h-slow.sock') } },
        },
        database: { type: 'sqlite', sqlite: { path: db } },
      }),
    );
    const d = spawn(process.execPath, [...DAEMON_NODE_FLAGS, path.join(ROOT, 'src/cli/besterd.ts'), conf, '--log-level', 'info'], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...DAEMON_ENV },
    });
    daemon = d;
    d.on('error', (err) => console.error(`besterd: ${err.message}`));
    const port = await new Promise<number>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error('besterd did not start within 30 s')), 30_000);
      d.stdout.on('data', (c: Buffer) => {
        buf += c.toString();
        const m = /tcp4:\/\/127\.0\.0\.1:(\d+)","msg":"listening"/.exec(buf);
        if (m) {
          clearTimeout(timer);
          buf = '';
          d.stdout.removeAllListeners('data');
          d.stdout.resume(); // from here the log is read and dropped
          resolve(Number(m[1]));
        }
      });
      d.once('exit', (code) => reject(new Error(`besterd exited with ${code}`)));
    });
    const fdLimit = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim();
    console.log(`besterd pid ${d.pid} on 127.0.0.1:${port}, default limits, fd limit ${fdLimit}, ${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    await sleep(1000); // the handler starts

    // 0: a correct login with no flood, on this machine as loaded as it is now (the reference).
    {
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const good = await timedLogin({ port, from: address(5, i) }, 'alice', 'alice-pw');
        times.push(good.ms);
        await closeAll([good.conn]);
      }
      summary.baselineLoginMs = times;
      console.log(`0. correct login with no flood (reference, 3 tries): ${times.join(', ')} ms`);
    }

    // 1 and 2: wrong passwords with unknown names, connections left open; then a correct login.
    const wrongPasswords = async (key: string, label: string, addresses: number, block: number): Promise<void> => {
      const overflows = listenOverflows();
      const sent = performance.now();
      const flood: Conn[] = [];
      for (let a = 0; a < addresses; a++) {
        for (let i = 0; i < 20; i++) {
          const c = open({ port, from: address(block, a) });
          c.send(login(`nobody${block}-${a}-${i}`, 'wrong'));
          flood.push(c);
        }
      }
      await Promise.all(flood.map((c) => c.settled(10_000)));
      const good = await timedLogin({ port, from: address(block + 5, 0) }, 'alice', 'alice-pw');
      // Once the daemon has read the whole flood (all but the checks it queued are answered), a
      // second correct login shows the queue of checks alone, without the burst of reading it.
      const until = Date.now() + Math.min(15_000, left());
      while (Date.now() < until && flood.filter((c) => c.firstAt !== null || c.closed).length < flood.length - 68) await sleep(20);
      const readMs = Math.round(performance.now() - sent);
      const queued = flood.filter((c) => c.firstAt === null && !c.closed).length;
      const after = await timedLogin({ port, from: address(block + 5, 1) }, 'alice', 'alice-pw');
      const got = await floodAnswers(flood, 15_000);
      const busyMs = flood.filter((c) => c.frames[0]?.header.code === 'server_busy').map((c) => c.firstAt! - sent);
      const lastBusyMs = busyMs.length > 0 ? Math.round(Math.max(...busyMs)) : null;
      const dropped = overflowsSince(overflows);
      summary[key] = {
        floodFrames: flood.length, addresses, correctLogin: good.answer, correctLoginMs: good.ms, connectMs: good.connectMs, flood: got,
        lastBusyAnswerMs: lastBusyMs, floodReadMs: readMs, checksQueuedThen: queued, correctLoginAfterRead: after.answer, correctLoginAfterReadMs: after.ms, listenOverflows: dropped,
      };
      console.log(`${label}: correct login from a fresh address ${good.answer} in ${good.ms} ms (connect ${good.connectMs} ms); the flood got ${JSON.stringify(got)}, its last server_busy ${lastBusyMs} ms after it was sent; listen overflows ${dropped}`);
      console.log(`${label.slice(0, 2)} ...once the flood was read (${readMs} ms, ${queued} of its checks still queued): another correct login from a fresh address ${after.answer} in ${after.ms} ms`);
      await closeAll([...flood, good.conn, after.conn]);
    };
    await wrongPasswords('wrongPasswords500', '1. 500 wrong passwords from 25 addresses, left open', 25, 10);
    await wrongPasswords('wrongPasswords1000', '2. 1,000 wrong passwords from 50 addresses, left open', 50, 20);

    // 3: over the UNIX socket, each connection closed right after its login frame.
    {
      const overflows = listenOverflows();
      const gone: Conn[] = [];
      for (let i = 0; i < 1000; i++) {
        const c = open({ path: path.join(dir, 'bester.sock') });
        c.socket.end(encodeFrame(login(`ghost${i}`, 'wrong')));
        gone.push(c);
      }
      const until = Date.now() + 15_000;
      while (Date.now() < until && gone.some((c) => !c.closed)) await sleep(50);
      const good = await timedLogin({ port, from: address(30, 0) }, 'alice', 'alice-pw');
      const dropped = overflowsSince(overflows);
      summary.unixGone1000 = { frames: gone.length, closedBeforeLogin: gone.filter((c) => c.closed).length, correctLogin: good.answer, correctLoginMs: good.ms, connectMs: good.connectMs, listenOverflows: dropped };
      console.log(`3. 1,000 logins over the UNIX socket, closed at once: correct TCP login from a fresh address ${good.answer} in ${good.ms} ms (connect ${good.connectMs} ms); listen overflows ${dropped}`);
      await closeAll([...gone, good.conn]);
    }

    // 4: 11,000 connections from 550 addresses, none logging in; then a correct login.
    {
      const overflows = listenOverflows();
      const t0 = Date.now();
      const flood = await openMany(11_000, (i) => ({ port, from: address(40, Math.floor(i / 20)) }));
      const openedS = ((Date.now() - t0) / 1000).toFixed(1);
      const good = await timedLogin({ port, from: address(50, 0) }, 'alice', 'alice-pw');
      await sleep(500);
      const got = tally(flood.map((c) => (c.frames.length > 0 ? answerOf(c.frames[0]!) : c.closed ? 'closed without answer' : 'open')));
      const evicted = got['server_busy'] ?? 0;
      const dropped = overflowsSince(overflows);
      summary.connectionFlood = { connections: flood.length, openedInS: Number(openedS), correctLogin: good.answer, correctLoginMs: good.ms, connectMs: good.connectMs, evicted, flood: got, listenOverflows: dropped };
      console.log(`4. ${flood.length} idle connections from 550 addresses (opened in ${openedS} s): correct login ${good.answer} in ${good.ms} ms (connect ${good.connectMs} ms); ${evicted} evicted with server_busy; all: ${JSON.stringify(got)}; listen overflows ${dropped}`);
      await closeAll([...flood, good.conn]);
      await sleep(1500);
    }

    // 5: alice with 16 sessions x 16 pipelined calls to the slow handler; then bob's one call.
    {
      const bob = await timedLogin({ port }, 'bob', 'bob-pw');
      const alices: Conn[] = [];
      for (let s = 0; s < 16 && left() > 30_000; s++) {
        const a = await timedLogin({ port }, 'alice', 'alice-pw');
        if (a.answer !== 'good') throw new Error(`alice's session ${s}: ${a.answer}`);
        alices.push(a.conn);
      }
      for (const [s, c] of alices.entries()) for (let i = 0; i < 16; i++) c.send(message(`a${s}-${i}`, { mode: 'delay', ms: 500, to: [] }));
      await sleep(200); // alice's calls reach the daemon first
      const t0 = performance.now();
      bob.conn.send(message('b1', { mode: 'delay', ms: 500, to: [] }));
      const report = await bob.conn.next(30_000);
      const bobMs = Math.round(performance.now() - t0);
      const aliceAnswers: string[] = [];
      for (const c of alices) for (let i = 0; i < 16 && left() > 20_000; i++) aliceAnswers.push(answerOf(await c.next(15_000)));
      const alice = tally(aliceAnswers);
      summary.fairShare = { bob: answerOf(report), bobReason: report?.header.reason ?? null, bobMs, alice };
      console.log(`5. alice 16 sessions x 16 calls (delay 500 ms): bob's call ${answerOf(report)} in ${bobMs} ms (the handler's 500 ms included); alice got ${JSON.stringify(alice)}`);
      await closeAll([...alices.slice(1), bob.conn]);

      // 6: 40 messages of 200 KB to each of 16 offline accounts, 8 in flight at once.
      const sender = alices[0]!;
      const size = (): number => [db, `${db}-wal`].reduce((n, f) => n + (() => { try { return statSync(f).size; } catch { return 0; } })(), 0);
      const before = size();
      const pad = 'x'.repeat(200_000);
      const outcomes: string[] = [];
      const t1 = Date.now();
      const sends = Array.from({ length: 40 * offline.length }, (_, k) => ({ id: `o${k}`, to: offline[k % offline.length]! }));
      for (let k = 0; k < sends.length && left() > 15_000; k += 8) {
        const window = sends.slice(k, k + 8);
        for (const s of window) sender.send(message(s.id, { to: [s.to], pad }));
        for (let w = 0; w < window.length; w++) outcomes.push(answerOf(await sender.next(15_000)));
      }
      const seconds = ((Date.now() - t1) / 1000).toFixed(1);
      const growthMb = Math.round((size() - before) / 104857.6) / 10;
      const got = tally(outcomes);
      summary.offlineBytes = { sent: outcomes.length, kept: got['good'] ?? 0, refused: got['recipient_queue_full'] ?? 0, answers: got, growthMb, seconds: Number(seconds) };
      console.log(`6. ${outcomes.length} messages of 200 KB to 16 offline accounts in ${seconds} s: ${got['good'] ?? 0} kept, ${got['recipient_queue_full'] ?? 0} refused recipient_queue_full; SQLite file + WAL grew ${growthMb} MB (${JSON.stringify(got)})`);
      await closeAll([sender]);
    }

    // 7: the hostile usernames, each tried with `bester user add` beside the existing alice.
    {
      const names: Array<[string, string]> = [
        ['Alice', 'Alice'],
        ['álice NFD', 'a\u0301lice'],
        ['álice NFC', '\u00e1lice'],
        ['alice + U+200B', 'alice\u200b'],
        ['bob + U+202E + gnp.exe', 'bob\u202egnp.exe'],
        ['al + U+2028 + ice', 'al\u2028ice'],
        ['al + U+00A0 + ice', 'al\u00a0ice'],
      ];
      const outcomes: Record<string, string> = {};
      for (const [label, name] of names) {
        if (left() < 10_000) break;
        const r = spawnSync(process.execPath, [path.join(ROOT, 'src/cli/bester.ts'), 'user', 'add', name, '--config', conf, '--password-stdin'], {
          input: 'hostile-pw\n',
          encoding: 'utf8',
          timeout: 30_000,
        });
        const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').at(-1) ?? '';
        outcomes[label] = `exit ${r.status ?? r.signal}: ${text}`;
        console.log(`7. bester user add ${JSON.stringify(name)} (${label}): ${outcomes[label]}`);
      }
      summary.usernames = outcomes;
    }
    summary.totalSeconds = Math.round((Date.now() - started) / 1000);
    console.log(JSON.stringify(summary));
  } finally {
    clearTimeout(giveUp);
    await cleanup();
  }
}

// Last, so that the helpers above are defined when main() runs.
if (!values.child) {
  // Re-run under a raised fd limit; a container may cap it below 30000 (then its hard limit is used).
  const self = fileURLToPath(import.meta.url);
  const child = spawn('sh', ['-c', `{ ulimit -n 30000 2>/dev/null || ulimit -n "$(ulimit -Hn)"; } && exec "${process.execPath}" "${self}" --child`], { stdio: 'inherit' });
  child.on('error', (err) => {
    console.error(err.message);
    process.exit(1);
  });
  child.on('exit', (code) => process.exit(code ?? 1));
} else {
  await main();
}
