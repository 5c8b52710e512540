// The "cluster" target of bench/load.ts (docs/scaling.md "Numbers"): one redis-server and three
// besterd nodes on it (database.redis.nodeId), each with the relay handler. Pair i's sender logs in
// on node i mod 3 and its receiver on node (i + 1) mod 3, so every delivery crosses nodes over the
// bus. The CPU of the three daemons is counted as the server's; Redis's commands and CPU over the
// timed window come from INFO commandstats and INFO cpu, read before and after.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../src/cli/daemon-node-flags.ts';
import { silentLogger } from '../src/server/log.ts';
import { RedisAccountStore } from '../src/server/redis/account-store.ts';
import { connectRedis } from '../src/server/redis/client.ts';
import { childPids } from './measure.ts';
import { freePort } from './nats.ts';
import type { Target, TargetOptions } from './targets.ts';

const NODES = 3;

/** Redis's command calls (every command, scripts' inner calls included) and CPU (µs) so far. */
export function redisStats(port: number): { calls: number; cpuUs: number } {
  const out = spawnSync('redis-cli', ['-p', String(port), 'INFO', 'all'], { encoding: 'utf8', timeout: 5000 }).stdout ?? '';
  let calls = 0;
  for (const m of out.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)) calls += Number(m[1]);
  const cpu = (name: string): number => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(out)?.[1] ?? 0);
  return { calls, cpuUs: Math.round((cpu('used_cpu_sys') + cpu('used_cpu_user')) * 1e6) };
}

/** Resolves with the first stdout line matching `re`, within 30 s. */
function waitLine(child: ChildProcess, re: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${re} within 30 s`)), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      const m = re.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
      if (buf.length > 1 << 20) buf = buf.slice(-4096);
    });
    child.once('exit', (code) => reject(new Error(`process exited (${code}) before it was ready`)));
  });
}

export async function startCluster(o: TargetOptions, root: string, dir: string): Promise<Target> {
  const redisPort = await freePort();
  mkdirSync(path.join(dir, 'redis'));
  // As docs/scaling.md requires: append-only file; everysec, the usual production setting.
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', path.join(dir, 'redis'), '--appendonly', 'yes',
    '--appendfsync', 'everysec', '--save', '', '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
  redis.on('error', () => undefined);
  await waitLine(redis, /Ready to accept connections/);
  const url = `redis://127.0.0.1:${redisPort}`;
  const client = await connectRedis({ url, prefix: 'bester:' }, silentLogger(), 'bench');
  const store = new RedisAccountStore({ client, prefix: 'bester:', ownsClient: true });
  for (let i = 0; i < o.pairs; i++) {
    await store.add(`s${i}`, 'bench-pw');
    await store.add(`r${i}`, 'bench-pw');
  }
  await store.close();
  const daemons: ChildProcess[] = [];
  const ports: number[] = [];
  for (let n = 0; n < NODES; n++) {
    const nodeDir = path.join(dir, `n${n + 1}`);
    mkdirSync(nodeDir);
    const config = {
      network: { types: ['tcp4'], tcp4: { port: '0', address: '127.0.0.1' } },
      handlers: {
        availableTypes: ['relay'],
        typeMap: {
          relay: {
            handlerBinary: process.execPath,
            handlerArgs: [path.join(root, 'bench/relay-handler.ts')],
            unixDomainSocketPath: 'relay.sock',
            protocol: o.handlerMode === 'persistent' ? 'multiplex' : 'original',
          },
        },
      },
      database: { type: 'redis', redis: { url, nodeId: `n${n + 1}` } },
      informer: { enabled: false },
      log: { level: 'info' },
      ...(o.pipelineDepth !== undefined ? { limits: { pipelineDepth: o.pipelineDepth } } : {}),
    };
    writeFileSync(path.join(nodeDir, 'server.conf'), JSON.stringify(config));
    const daemon = spawn(process.execPath, [...DAEMON_NODE_FLAGS, path.join(root, 'src/cli/besterd.ts'), path.join(nodeDir, 'server.conf')],
      { cwd: nodeDir, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...DAEMON_ENV } });
    daemon.on('error', () => undefined);
    daemons.push(daemon);
    const [, port] = await waitLine(daemon, /tcp4:\/\/127\.0\.0\.1:(\d+)","msg":"listening"/);
    ports.push(Number(port));
  }
  return {
    kind: 'frames',
    port: ports[0]!,
    ports,
    server: { name: `besterd x${NODES}`, pid: daemons[0]!.pid! },
    servers: () => daemons.map((d, n) => ({ name: `besterd n${n + 1}`, pid: d.pid! })),
    handler: () => {
      const pid = childPids(daemons[0]!.pid!)[0];
      return pid === undefined ? null : { name: 'relay-handler (n1)', pid };
    },
    redis: () => redisStats(redisPort),
    async stop() {
      for (const d of daemons) d.kill('SIGTERM');
      await sleep(500);
      redis.kill('SIGTERM');
      await sleep(200);
    },
  };
}
