// A three-master Redis Cluster on loopback for tests (docs/scaling.md): three redis-server
// --cluster-enabled yes on free ports (each port + 10000, the cluster bus, free too), joined with
// `redis-cli --cluster create … --cluster-yes`, awaited until CLUSTER INFO says ok on every node
// (bounded). Append-only files with fsync at every write, as test/helpers/redis-server.ts.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tempDir } from './daemon.ts';

export interface TestRedisCluster {
  /** The masters as "host:port", for database.redis.cluster. */
  readonly nodes: readonly string[];
  /** Stops every server and removes the dir. Idempotent. */
  stop(): Promise<void>;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.on('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port in 20000-50000 free together with its cluster bus port (port + 10000). */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    if (taken.has(port) || taken.has(port + 10000)) continue;
    if ((await portFree(port)) && (await portFree(port + 10000))) return port;
  }
  throw new Error('no free port pair for a Redis Cluster node');
}

function cli(port: number, ...args: string[]): string {
  const out = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000 });
  return `${out.stdout ?? ''}${out.stderr ?? ''}`;
}

export async function startRedisCluster(): Promise<TestRedisCluster> {
  const dir = tempDir('bt-rcluster-');
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  const taken = new Set<number>();
  let output = '';
  const stop = async (): Promise<void> => {
    const alive = children.splice(0).filter((c) => c.exitCode === null && c.signalCode === null);
    await Promise.all(alive.map((c) => new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    })));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const port = await clusterPort(taken);
      taken.add(port).add(port + 10000);
      const nodeDir = path.join(dir, String(port));
      mkdirSync(nodeDir);
      const child = spawn('redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--dir', nodeDir, '--cluster-enabled', 'yes',
        '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000', '--appendonly', 'yes',
        '--appendfsync', 'always', '--save', '', '--daemonize', 'no', '--protected-mode', 'no', '--logfile', '',
      ], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.on('error', (err) => (output += `spawn error: ${err.message}\n`));
      child.stdout?.setEncoding('utf8').on('data', (s: string) => (output += s));
      child.stderr?.setEncoding('utf8').on('data', (s: string) => (output += s));
      children.push(child);
      ports.push(port);
    }
    for (const port of ports) await until(`redis ${port} answers`, () => cli(port, 'PING').includes('PONG'), () => output);
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
      { encoding: 'utf8', timeout: 30_000 });
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${created.stdout}${created.stderr}`);
    for (const port of ports) await until(`cluster state ok on ${port}`, () => cli(port, 'CLUSTER', 'INFO').includes('cluster_state:ok'), () => output);
  } catch (err) {
    await stop();
    throw err;
  }
  let stopped = false;
  return {
    nodes: ports.map((p) => `127.0.0.1:${p}`),
    async stop() {
      if (stopped) return;
      stopped = true;
      await stop();
    },
  };
}

/** Polls `check` every 100 ms, at most 150 times (15 s). */
async function until(what: string, check: () => boolean, log: () => string): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not within 15 s\n${log()}`);
}
