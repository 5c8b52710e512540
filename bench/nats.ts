// The same flow over NATS (nats-server from Debian, the official client from npm), measured
// the same way as bench/load.ts measures Bester: sender -> nats-server -> relay service ->
// nats-server -> receiver, plus the request's reply as the sender's status report.
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { RunOptions, RunResult } from './load.ts';
import { Counters, measure } from './measure.ts';

export function natsInstalled(): boolean {
  return spawnSync('nats-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function runNats(o: RunOptions, root: string): Promise<RunResult> {
  const port = await freePort();
  const server = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  server.on('error', () => undefined);
  const relay = spawn(process.execPath, [path.join(root, 'bench/nats-relay.ts'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  relay.on('error', () => undefined);
  const conns: NatsConnection[] = [];
  try {
    // nats-server takes a moment to listen; the relay retries by itself only if asked, so wait here.
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect({ port, host: '127.0.0.1' }, () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (ok) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('nats relay did not start')), 20_000);
      relay.stdout.on('data', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    const pad = 'x'.repeat(Math.max(0, o.size - 40));
    const c = new Counters();
    for (let i = 0; i < o.pairs; i++) {
      const nc = await connect({ servers: `127.0.0.1:${port}` });
      conns.push(nc);
      nc.subscribe(`deliver.r${i}`, {
        callback: (_err, msg) => c.deliveredAt((JSON.parse(msg.string()) as { t: number }).t),
      });
      await nc.flush();
    }
    const senders: NatsConnection[] = [];
    for (let i = 0; i < o.pairs; i++) {
      const nc = await connect({ servers: `127.0.0.1:${port}` });
      conns.push(nc);
      senders.push(nc);
    }
    const sendOne = (nc: NatsConnection, i: number): void => {
      c.sent++;
      nc.request('relay', JSON.stringify({ to: `r${i}`, t: performance.now(), pad }), { timeout: 30_000 }).then(
        () => {
          c.acknowledged++;
          if (c.sending) sendOne(nc, i);
        },
        () => undefined,
      );
    };
    return await measure(o, server.pid!, c, () => {
      senders.forEach((nc, i) => {
        for (let w = 0; w < o.window; w++) sendOne(nc, i);
      });
    });
  } finally {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    relay.kill('SIGKILL');
    server.kill('SIGKILL');
  }
}
