// Redis behind Sentinel for tests (docs/scaling.md "At a Sentinel failover"): on loopback and free
// ports, a master and one replica (test/helpers/redis-server.ts, append-only files, the replica with
// --replicaof) and three Sentinels (`redis-server sentinel.conf --sentinel`, quorum 2, a master down
// after 1 s), each in its own temp dir. Started once the Sentinels know the replica and each other;
// every wait is bounded; stop() kills every process it started.
import { execFile, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from './daemon.ts';
import { freePort, killChild, spawnRedisServer, startRedis, type TestRedis } from './redis-server.ts';
import { until } from './until.ts';

export interface TestSentinels {
  /** The master's name as the Sentinels know it (database.redis.sentinel.name). */
  readonly name: string;
  /** The Sentinels as "127.0.0.1:port" (database.redis.sentinel.nodes). */
  readonly nodes: readonly string[];
  /** The server that was master at the start, and its replica. */
  readonly first: TestRedis;
  readonly second: TestRedis;
  /** Waits until every Sentinel names `server` as the master and it says it is one (bounded). */
  waitForMaster(server: TestRedis, timeoutMs?: number): Promise<void>;
  /**
   * Starts `server` again (after kill) from its append-only file as a replica of the current
   * master, as the Sentinels would make it (they wait about 10 s before they do), and waits until
   * it is in sync and the Sentinels see it so (bounded).
   */
  rejoin(server: TestRedis, timeoutMs?: number): Promise<void>;
  /** SENTINEL FAILOVER on one Sentinel, retried while it answers that no replica is good yet (bounded). */
  failover(timeoutMs?: number): Promise<void>;
  /** Every Sentinel's output, for failure messages. */
  log(): string;
  /** Stops the Sentinels and both servers, removes the dirs. Idempotent. */
  stop(): Promise<void>;
}

/** redis-cli's answer (one element per line), or its error text; never rejects. */
export function redisCli(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 5000 },
      (err, stdout, stderr) => resolve(err ? `${stdout}${stderr}${err.message}` : stdout));
  });
}

/** A flat key/value reply (SENTINEL MASTER) as a map. */
function fields(lines: readonly string[]): Map<string, string> {
  return entries(lines)[0] ?? new Map<string, string>();
}

/** Flat key/value entries one after the other (SENTINEL REPLICAS), each starting with "name". */
function entries(lines: readonly string[]): Array<Map<string, string>> {
  const out: Array<Map<string, string>> = [];
  for (let i = 0; i + 1 < lines.length; i += 2) {
    if (lines[i] === 'name' || out.length === 0) out.push(new Map());
    out.at(-1)!.set(lines[i]!, lines[i + 1]!);
  }
  return out;
}


async function startSentinel(dir: string, name: string, masterPort: number): Promise<{ port: number; child: ChildProcess; output: () => string }> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const conf = path.join(dir, `sentinel-${port}.conf`);
    // Sentinel rewrites its config file as it learns the topology: one file each, in its own dir.
    writeFileSync(conf, [
      `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, 'protected-mode no', 'daemonize no', 'logfile ""',
      `sentinel monitor ${name} 127.0.0.1 ${masterPort} 2`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 4000`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n'));
    try {
      return { port, ...(await spawnRedisServer([conf, '--sentinel'], port)) };
    } catch (err) {
      if (attempt >= 4) throw err;
    }
  }
}

/** Replicas sync at once (the default waits 5 s for more replicas to share one transfer). */
const SERVER_ARGS = ['--repl-diskless-sync-delay', '0'];

export async function startSentinels(name = 'bester-test'): Promise<TestSentinels> {
  const first = await startRedis({ args: SERVER_ARGS });
  const sentinels: Array<{ port: number; child: ChildProcess; output: () => string }> = [];
  const dirs: string[] = [];
  let second: TestRedis | null = null;
  const log = (): string => sentinels.map((s) => `--- sentinel ${s.port}\n${s.output()}`).join('\n');
  const stop = async (): Promise<void> => {
    await Promise.all(sentinels.splice(0).map((s) => killChild(s.child)));
    await Promise.all([first.stop(), second?.stop()]);
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  };
  try {
    second = await startRedis({ args: [...SERVER_ARGS, '--replicaof', '127.0.0.1', String(first.port)] });
    for (let i = 0; i < 3; i++) {
      const dir = tempDir('bt-sentinel-');
      dirs.push(dir);
      sentinels.push(await startSentinel(dir, name, first.port));
    }
    // Each Sentinel learns the replica from the master's INFO and the others from the master's
    // hello channel (every 2 s): a failover needs both.
    await until('the Sentinels know the replica and each other', async () => {
      for (const s of sentinels) {
        const master = fields((await redisCli(s.port, 'SENTINEL', 'MASTER', name)).trim().split('\n'));
        if (master.get('num-slaves') !== '1' || master.get('num-other-sentinels') !== '2') return false;
      }
      return true;
    }, 20_000, log);
  } catch (err) {
    await stop();
    throw err;
  }
  const replica = second;
  const byPort = (port: number): TestRedis => (port === first.port ? first : replica);
  let stopped = false;
  return {
    name,
    nodes: sentinels.map((s) => `127.0.0.1:${s.port}`),
    first,
    second: replica,
    log,
    async waitForMaster(server, timeoutMs = 20_000) {
      await until(`the Sentinels name ${server.port} as the master`, async () => {
        for (const s of sentinels) {
          const [, port] = (await redisCli(s.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)).trim().split('\n');
          if (byPort(Number(port)) !== server) return false;
        }
        return (await redisCli(server.port, 'ROLE')).startsWith('master');
      }, timeoutMs, log);
    },
    async rejoin(server, timeoutMs = 20_000) {
      const [, master] = (await redisCli(sentinels[0]!.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)).trim().split('\n');
      await server.start();
      const answer = await redisCli(server.port, 'REPLICAOF', '127.0.0.1', String(master));
      if (!answer.startsWith('OK')) throw new Error(`REPLICAOF on ${server.port}: ${answer}`);
      await until(`the Sentinels see ${server.port} as a replica in sync`, async () => {
        const role = (await redisCli(server.port, 'INFO', 'replication')).replace(/\r/g, '');
        if (!role.includes('role:slave') || !role.includes('master_link_status:up')) return false;
        for (const s of sentinels) {
          const known = entries((await redisCli(s.port, 'SENTINEL', 'REPLICAS', name)).trim().split('\n'))
            .find((e) => e.get('port') === String(server.port));
          if (known?.get('flags') !== 'slave' || known.get('master-link-status') !== 'ok') return false;
        }
        return true;
      }, timeoutMs, log);
    },
    async failover(timeoutMs = 20_000) {
      let answer = '';
      await until('SENTINEL FAILOVER accepted', async () => {
        answer = (await redisCli(sentinels[0]!.port, 'SENTINEL', 'FAILOVER', name)).trim();
        return answer === 'OK';
      }, timeoutMs, () => `last answer: ${answer}\n${log()}`);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stop();
    },
  };
}
