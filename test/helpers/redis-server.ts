// A real redis-server for tests (Debian package redis-server; .ci/run installs it): its own temp
// dir, a free loopback port, append-only file with fsync at every write (so a SIGKILL loses nothing
// Redis acknowledged), no RDB snapshots. Tests can kill it and start it again from its AOF, or
// start it again empty, on the same port.
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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once the server answers PING with PONG (bounded: 100 tries, 50 ms apart). */
async function waitForPong(port: number, child: ChildProcess, log: () => string): Promise<void> {
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
          resolve(data.startsWith('+PONG'));
        }
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer PING:\n${log()}`);
}

export async function startRedis(): Promise<TestRedis> {
  const dir = tempDir('bt-redis-');
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir);
  let child: ChildProcess | null = null;
  let output = '';
  let port = 0;

  const launch = async (): Promise<void> => {
    output = '';
    const proc = spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dataDir,
      '--appendonly', 'yes', '--appendfsync', 'always', '--save', '',
      '--daemonize', 'no', '--protected-mode', 'no', '--logfile', '',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.on('error', (err) => (output += `spawn error: ${err.message}\n`));
    proc.stdout?.setEncoding('utf8').on('data', (s: string) => (output += s));
    proc.stderr?.setEncoding('utf8').on('data', (s: string) => (output += s));
    child = proc;
    await waitForPong(port, proc, () => output);
  };

  const kill = async (): Promise<void> => {
    const proc = child;
    child = null;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL');
    await exited;
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
