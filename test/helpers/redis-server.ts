// A real redis-server for tests (Debian package redis-server; .ci/run installs it): its own temp
// dir, a free loopback port, append-only file with fsync at every write (so a SIGKILL loses nothing
// Redis acknowledged), no RDB snapshots. Tests can kill it and start it again from its AOF, or
// start it again empty, on the same port. Its pieces (a free port, a redis-server process awaited
// until it answers PING, killed and awaited) are used by test/helpers/redis-sentinel.ts too.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tempDir } from './daemon.ts';

/** True when redis-server is on the PATH (tests skip with a reason otherwise). */
export const HAVE_REDIS = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).status === 0;

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** SIGKILL (no shutdown save), then start again on the same port from the append-only file. */
  restart(): Promise<void>;
  /** SIGKILL, remove the data, start again on the same port: a Redis that lost everything. */
  restartEmpty(): Promise<void>;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
  /** Starts it again (after kill) from what is on disk. */
  start(): Promise<void>;
  /** Stops it and removes its dir. Idempotent. */
  stop(): Promise<void>;
}

/** A loopback port free when asked (the caller retries if it is taken before it binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once the server answers PING with PONG, or asks for a password (bounded: 100 tries, 50 ms apart). */
export async function waitForPong(port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}):\n${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let data = '';
      socket.setEncoding('utf8');
      socket.on('error', () => resolve(false));
      socket.on('connect', () => socket.write('PING\r\n'));
      socket.on('data', (s: string) => {
        data += s;
        if (data.includes('\r\n')) {
          socket.destroy();
          resolve(data.startsWith('+PONG') || data.startsWith('-NOAUTH'));
        }
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer PING:\n${log()}`);
}

/** A redis-server (or Sentinel) child with its output kept, answering PING on `port`. */
export interface RedisChild {
  readonly child: ChildProcess;
  readonly output: () => string;
}

/** Spawns `redis-server ...args` and waits until it answers PING on `port`; killed if it does not. */
export async function spawnRedisServer(args: readonly string[], port: number): Promise<RedisChild> {
  let output = '';
  const child = spawn('redis-server', [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.on('error', (err) => (output += `spawn error: ${err.message}\n`));
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (output += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (output += s));
  try {
    await waitForPong(port, child, () => output);
  } catch (err) {
    await killChild(child);
    throw err;
  }
  return { child, output: () => output };
}

/** SIGKILL and wait for the exit (nothing if it already exited). */
export async function killChild(child: ChildProcess | null): Promise<void> {
  if (child === null || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

export interface RedisOptions {
  /** More redis-server arguments (e.g. `--replicaof 127.0.0.1 PORT`), after the defaults. */
  readonly args?: readonly string[];
}

export async function startRedis(options: RedisOptions = {}): Promise<TestRedis> {
  const dir = tempDir('bt-redis-');
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir);
  let child: ChildProcess | null = null;
  let port = 0;

  const launch = async (): Promise<void> => {
    child = (await spawnRedisServer([
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dataDir,
      '--appendonly', 'yes', '--appendfsync', 'always', '--save', '',
      '--daemonize', 'no', '--protected-mode', 'no', '--logfile', '', ...(options.args ?? []),
    ], port)).child;
  };

  const kill = async (): Promise<void> => {
    const proc = child;
    child = null;
    await killChild(proc);
  };

  // The port is free when asked but could be taken before redis binds it: a few tries.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (err) {
      await kill();
      if (attempt >= 4) throw err;
    }
  }

  let stopped = false;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    kill,
    start: launch,
    async restart() {
      await kill();
      await launch();
    },
    async restartEmpty() {
      await kill();
      rmSync(dataDir, { recursive: true, force: true });
      mkdirSync(dataDir);
      await launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
