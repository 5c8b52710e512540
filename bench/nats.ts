// The NATS target (nats-server from Debian, the official client from npm): the same flow as
// Bester's, sender -> nats-server -> relay service (bench/nats-relay.ts) -> nats-server ->
// receiver, plus a reply to the sender as its status report.
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Target } from './targets.ts';

export function natsInstalled(): boolean {
  return spawnSync('nats-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** A TCP port free on loopback now (the bench's servers are started on it). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  s.on('error', () => undefined);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

export async function startNats(root: string): Promise<Target> {
  const port = await freePort();
  const server = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  server.on('error', () => undefined);
  // nats-server takes a moment to listen; the relay service does not retry, so wait here.
  for (let i = 0; i < 200 && !(await accepts(port)); i++) await sleep(50);
  const relay = spawn(process.execPath, [path.join(root, 'bench/nats-relay.ts'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  relay.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('nats relay did not start')), 20_000);
    relay.stdout.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return {
    kind: 'nats',
    port,
    server: { name: 'nats-server', pid: server.pid! },
    handler: () => ({ name: 'nats-relay', pid: relay.pid! }),
    async stop() {
      relay.kill('SIGKILL');
      server.kill('SIGKILL');
      await sleep(100);
    },
  };
}
