#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 node --expose-gc --max-semi-space-size=16
// Memory after abuse (docs/security.md, issue 11 finding 7): is the RSS a daemon keeps after a run
// of hostile probes retained objects, or the heap and allocator sized to the load? Runs the daemon
// in this process (so the heap can be read after a forced GC), and the probes in a child process:
// rounds of idle connections, wrong-password floods, malformed and oversize frames, and large
// messages to a handler. After each round, with every probe connection closed, it forces a full GC
// and prints RSS, the V8 heap used and committed, and external memory. Bounded: rounds and probes
// are counted; the whole run gives up after 5 minutes.
//   MALLOC_MMAP_THRESHOLD_=131072 node --expose-gc bench/memory-after-abuse.ts [--rounds 4]
// The variable is what bin/besterd.js starts the daemon with (src/cli/daemon-node-flags.ts
// DAEMON_ENV); run it once without to see the difference it makes.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { encodeFrame } from '../src/protocol/frame.ts';
import { openSqliteAccountStore } from '../src/server/accounts/sqlite-store.ts';
import { parseConfig } from '../src/server/config/load.ts';
import { startServer } from '../src/server/server.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { rounds: { type: 'string', default: '4' }, probe: { type: 'string' } } });

if (values.probe !== undefined) await probe(Number(values.probe));
else await main(Number(values.rounds));

async function main(rounds: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  setTimeout(() => process.exit(2), 5 * 60_000).unref();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-abuse-'));
  const raw = {
    network: { types: ['tcp4'], tcp4: { port: '0', address: '127.0.0.1' } },
    handlers: { availableTypes: ['echo'], typeMap: { echo: { handlerBinary: process.execPath, handlerArgs: [path.join(ROOT, 'examples/handlers/echo.ts')], unixDomainSocketPath: 'echo.sock' } } },
    limits: { loginTimeoutMs: 2000 },
  };
  const { config } = parseConfig(raw, { baseDir: dir });
  const store = await openSqliteAccountStore(path.join(dir, 'bester.db'));
  await store.add('alice', 'alice-pw');
  await store.close();
  const server = await startServer(config);
  const port = server.listeners[0]!.port!;
  const sample = (label: string): void => {
    for (let i = 0; i < 3; i++) gc();
    const m = process.memoryUsage();
    const h = v8.getHeapStatistics();
    const mb = (n: number): string => (n / 1048576).toFixed(1);
    console.log(
      `${label.padEnd(10)} rss ${mb(m.rss)} MB | heap used ${mb(h.used_heap_size)} MB, committed ${mb(h.total_heap_size)} MB, ` +
        `physical ${mb(h.total_physical_size)} MB | external ${mb(m.external)} MB, array buffers ${mb(m.arrayBuffers)} MB | sessions ${server.registry.connectionCount}`,
    );
  };
  await new Promise((r) => setTimeout(r, 500));
  console.log(`MALLOC_MMAP_THRESHOLD_=${process.env.MALLOC_MMAP_THRESHOLD_ ?? '(not set: glibc adjusts it)'}`);
  sample('baseline');
  for (let round = 1; round <= rounds; round++) {
    const child = fork(fileURLToPath(import.meta.url), ['--probe', String(port)], { stdio: 'inherit' });
    await new Promise((resolve) => child.once('exit', resolve));
    await new Promise((r) => setTimeout(r, 2500)); // login timeouts and closes settle
    sample(`round ${round}`);
  }
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}

/** One round of hostile clients against 127.0.0.1:port; every connection closed before it exits. */
async function probe(port: number): Promise<void> {
  const sockets: net.Socket[] = [];
  const open = (from: string): net.Socket => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress: from });
    s.on('error', () => undefined);
    s.resume();
    sockets.push(s);
    return s;
  };
  const login = (user: string, password: string): Buffer =>
    encodeFrame({ header: { scope: 'client', authentication: { username: user, password } }, payload: { type: 'login', id: 'l', data: null } });
  // Idle connections that never log in, from 50 addresses.
  for (let a = 0; a < 50; a++) for (let i = 0; i < 20; i++) open(`127.0.1.${a + 1}`);
  // Wrong passwords from 20 addresses.
  for (let a = 0; a < 20; a++) for (let i = 0; i < 10; i++) open(`127.0.2.${a + 1}`).write(login(`nobody${i}`, 'wrong'));
  // Malformed JSON, an oversize declared length, garbage bytes.
  for (let i = 0; i < 300; i++) {
    const s = open(`127.0.3.${(i % 50) + 1}`);
    if (i % 3 === 0) s.write(Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from('{{{{{')]));
    else if (i % 3 === 1) s.write(Buffer.from([0xff, 0xff, 0xff, 0x7f]));
    else s.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
  }
  // Large messages to the handler from a logged-in user, to nobody.
  const alice = open('127.0.4.1');
  alice.write(login('alice', 'alice-pw'));
  await new Promise((r) => setTimeout(r, 500));
  const pad = 'x'.repeat(200_000);
  for (let i = 0; i < 100; i++) alice.write(encodeFrame({ header: {}, payload: { type: 'echo', id: `m${i}`, data: { to: [], pad } } }));
  await new Promise((r) => setTimeout(r, 3000));
  for (const s of sockets) s.destroy();
  await new Promise((r) => setTimeout(r, 200));
}
