#!/usr/bin/env node
// How much memory the daemon needs per idle, logged-in connection (docs/performance.md).
// Starts besterd as a child process, opens N connections (default 10,000) spread over 100
// users, logs each in, waits, and prints the daemon's RSS. Bounded: gives up after 5 minutes.
//   node bench/idle-connections.ts [--connections 10000] [--transport tcp|ws] [--built]
// --transport ws: the connections are WebSockets to a ws listener (docs/protocol.md §1.5).
// --built runs the daemon as an installed package does, from the JavaScript of `npm run build`
// (dist/), instead of the checkout's TypeScript: Node then loads no type stripper (about 18 MB).
// The fd limit is raised here for both processes (`ulimit -n`), never in the daemon's code.
// Users are stored with cheap scrypt parameters (N=1024, kept with each hash): this measures
// connections, not the cost of logging in (which the default N=16384 makes ~40 ms of CPU each).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { encodeFrame, FrameDecoder } from '../src/protocol/frame.ts';
import { hashPassword } from '../src/server/accounts/password.ts';
import { openSqliteAccountStore } from '../src/server/accounts/sqlite-store.ts';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../src/cli/daemon-node-flags.ts';
import WebSocket from 'ws';
import { SUBPROTOCOL } from '../src/server/transport/ws-listener.ts';
import { rssMb } from './measure.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { connections: { type: 'string', default: '10000' }, transport: { type: 'string', default: 'tcp' }, child: { type: 'boolean' }, built: { type: 'boolean' } } });
const N = Number(values.connections);
const WS = values.transport === 'ws';

if (!values.child) {
  // Re-run under a raised fd limit (the generator needs one socket per connection too).
  const child = spawn('sh', ['-c', `ulimit -n 20000 && exec "${process.execPath}" "${fileURLToPath(import.meta.url)}" --child --connections ${N} --transport ${WS ? 'ws' : 'tcp'}${values.built ? ' --built' : ''}`], { stdio: 'inherit' });
  child.on('exit', (code) => process.exit(code ?? 1));
} else {
  await main();
}


async function main(): Promise<void> {
  const deadline = Date.now() + 5 * 60_000;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-idle-'));
  const users = 100;
  const perUser = Math.ceil(N / users);
  writeFileSync(
    path.join(dir, 'server.conf'),
    JSON.stringify({
      network: WS ? { types: ['ws'], ws: { port: 0, address: '127.0.0.1' } } : { types: ['tcp4'], tcp4: { port: '0', address: '127.0.0.1' } },
      limits: { maxConnections: N + 100, maxSessionsPerUser: perUser + 1, maxUnauthenticatedPerAddress: N + 100 },
      log: { level: 'warn' },
    }),
  );
  const dbPath = path.join(dir, 'bester.db');
  await (await openSqliteAccountStore(dbPath)).close(); // creates the schema
  const db = new DatabaseSync(dbPath);
  const insert = db.prepare('INSERT INTO users (username, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?)');
  const hash = await hashPassword('idle-pw', { N: 1024, r: 8, p: 1 });
  for (let u = 0; u < users; u++) insert.run(`u${u}`, hash, Date.now(), Date.now());
  db.close();

  const besterd = values.built ? path.join(ROOT, 'dist/lib/cli/besterd.js') : path.join(ROOT, 'src/cli/besterd.ts');
  if (!existsSync(besterd)) throw new Error(`${besterd} is missing: run 'npm run build' first`);
  const daemon = spawn(process.execPath, [...DAEMON_NODE_FLAGS, besterd, path.join(dir, 'server.conf'), '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...DAEMON_ENV } });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('besterd did not start')), 20_000);
    daemon.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = (WS ? /"address":"ws:\/\/127\.0\.0\.1:(\d+)"/ : /tcp4:\/\/127\.0\.0\.1:(\d+)","msg":"listening"/).exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  const rssBefore = rssMb(daemon.pid!);
  const sockets: Array<{ destroy(): void }> = [];
  let loggedIn = 0;
  let failed = 0;
  const loginFrame = (i: number): Buffer =>
    encodeFrame({ header: { scope: 'client', authentication: { username: `u${i % users}`, password: 'idle-pw' } }, payload: { type: 'login', id: 'l', data: null } });
  const openWebSocket = (i: number): Promise<void> =>
    new Promise((resolve) => {
      const localAddress = `127.1.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`;
      const ws = new WebSocket(`ws://127.0.0.1:${port}/bester`, [SUBPROTOCOL], { localAddress, perMessageDeflate: false });
      sockets.push({ destroy: () => ws.terminate() });
      ws.on('error', () => {
        failed++;
        resolve();
      });
      ws.once('open', () => ws.send(loginFrame(i).subarray(4), { binary: false }));
      ws.once('message', (b: Buffer) => {
        if (b.includes('"good"')) loggedIn++;
        else failed++;
        resolve();
      });
    });
  const openOne = (i: number): Promise<void> =>
    WS ? openWebSocket(i) : new Promise((resolve) => {
      // Spread over loopback source addresses: limits.loginChecks.maxPerAddress bounds one address's checks.
      const s = net.connect({ port, host: '127.0.0.1', localAddress: `127.1.${Math.floor(i / 250) % 250}.${(i % 250) + 1}` });
      sockets.push(s);
      s.on('error', () => {
        failed++;
        resolve();
      });
      const d = new FrameDecoder(
        {
          frame: (b) => {
            if (b.includes('"good"')) loggedIn++;
            else failed++;
            resolve();
          },
          error: () => resolve(),
        },
        1 << 20,
      );
      s.on('data', (c: Buffer) => d.push(c));
      s.write(loginFrame(i));
    });
  // Logins in flight at once: below limits.loginChecks (maxRunning + maxWaiting = 68), so none is answered server_busy.
  const batch = 48;
  for (let i = 0; i < N && Date.now() < deadline; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, N - i) }, (_, k) => openOne(i + k)));
  }
  await new Promise((r) => setTimeout(r, 3000)); // idle
  const rssIdle = rssMb(daemon.pid!);
  const result = {
    transport: WS ? 'ws' : 'tcp',
    connections: N,
    loggedIn,
    failed,
    daemonRssMbBefore: rssBefore,
    daemonRssMbIdle: rssIdle,
    kbPerConnection: loggedIn > 0 ? Math.round(((rssIdle - rssBefore) * 1024) / loggedIn * 10) / 10 : null,
  };
  console.log(JSON.stringify(result));
  console.log(`${loggedIn} idle logged-in ${WS ? 'WebSocket' : 'TCP'} connections: daemon RSS ${rssIdle} MB (${rssBefore} MB before), ${result.kbPerConnection} KB each (${values.built ? 'built JavaScript' : 'TypeScript from the checkout'}); target < 150 MB`);
  for (const s of sockets) s.destroy();
  daemon.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = loggedIn === N ? 0 : 1;
}
