#!/usr/bin/env node
// New connections per second over TLS beside plain TCP, on one besterd with both listeners
// (issue 13, "Speed and cost"): `connect` opens a connection (and, over TLS, completes the
// handshake) and closes it; `login` also logs in (a password check: scrypt, docs/protocol.md §2.5)
// and waits for the answer. `--concurrency` loops run at once, each for `--seconds`.
//
//   node bench/tls-handshakes.ts [--seconds 5] [--concurrency 8]
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import tls from 'node:tls';
import { encodeFrame, FrameDecoder } from '../src/protocol/frame.ts';
import { cpuUs } from './measure.ts';
import { startBester } from './targets.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const GOOD = Buffer.from('"status":"good"');

type Transport = 'tcp' | 'tls';

/** One connection: resolves once it is open (TLS: handshake done) and, with `user`, logged in; then closes it. */
function once(transport: Transport, port: number, ca: string, user: string | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = transport === 'tls' ? tls.connect({ port, host: '127.0.0.1', ca }) : net.connect({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => socket.destroy(new Error('timed out')), 30_000);
    const done = (err?: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    socket.on('error', (err: Error) => done(err));
    socket.once(transport === 'tls' ? 'secureConnect' : 'connect', () => {
      if (user === null) {
        done();
        return;
      }
      const decoder = new FrameDecoder({
        frame: (body) => done(body.indexOf(GOOD) >= 0 ? undefined : new Error(`login refused: ${body.toString()}`)),
        error: (err) => done(err),
      }, 1 << 20);
      socket.on('data', (chunk: Buffer) => decoder.push(chunk));
      socket.write(encodeFrame({ header: { scope: 'client', authentication: { username: user, password: 'bench-pw' } }, payload: { type: 'login', id: 'l', data: null } }));
    });
  });
}

interface Rate {
  transport: Transport;
  mode: 'connect' | 'login';
  perSec: number;
  failed: number;
  /** besterd's CPU per connection, µs. */
  serverCpuUs: number;
}

async function measure(transport: Transport, mode: Rate['mode'], port: number, ca: string, pid: number, seconds: number, concurrency: number): Promise<Rate> {
  let ok = 0;
  let failed = 0;
  const cpu0 = cpuUs(pid);
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const loop = async (i: number): Promise<void> => {
    // Bounded: at most one connection per millisecond of the window per loop.
    for (let n = 0; n < seconds * 1000 && performance.now() < end; n++) {
      try {
        await once(transport, port, ca, mode === 'login' ? `s${i}` : null);
        ok++;
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => loop(i)));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = cpuUs(pid) - cpu0;
  return { transport, mode, perSec: Math.round(ok / elapsed), failed, serverCpuUs: Math.round(cpu / Math.max(1, ok)) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '8' } } });
  const seconds = Math.max(0.5, Math.min(60, Number(values.seconds)));
  const concurrency = Math.max(1, Math.min(64, Number(values.concurrency)));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-tls-'));
  const target = await startBester({ target: 'bester-tls', pairs: concurrency, handlerMode: 'original', baselineConnections: 2 }, ROOT, dir, true);
  try {
    const ca = target.tls!.ca;
    const ports: Record<Transport, number> = { tcp: target.plainPort!, tls: target.port };
    const rates: Rate[] = [];
    for (const mode of ['connect', 'login'] as const) {
      for (const transport of ['tcp', 'tls'] as const) {
        const rate = await measure(transport, mode, ports[transport], ca, target.server.pid, seconds, concurrency);
        console.log(JSON.stringify({ ...rate, seconds, concurrency }));
        rates.push(rate);
      }
    }
    console.log('transport | mode | per second | besterd µs CPU each | failed');
    for (const r of rates) console.log([r.transport, r.mode, r.perSec, r.serverCpuUs, r.failed].join(' | '));
  } finally {
    await target.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
