// The servers a run can drive, started fresh for each run and stopped after it: besterd with the
// relay handler (clients over plain TCP, over TLS: bester-tls, or over WebSocket: bester-ws), the minimal relay
// (bench/baseline-relay.ts) with the same handler, or NATS.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../src/cli/daemon-node-flags.ts';
import { openSqliteAccountStore } from '../src/server/accounts/sqlite-store.ts';
import { childPids } from './measure.ts';
import { startNats } from './nats.ts';
import { makeBenchCertificate } from './tls-material.ts';
import { startCluster } from './cluster-target.ts';

export type TargetName = 'bester' | 'bester-tls' | 'bester-ws' | 'baseline' | 'nats' | 'cluster';
export type HandlerMode = 'original' | 'persistent';

export interface TargetOptions {
  target: TargetName;
  pairs: number;
  handlerMode: HandlerMode;
  /** bester's limits.pipelineDepth; its default when absent. */
  pipelineDepth?: number;
  /** The minimal relay's pooled handler connections in persistent mode (bester's default is 2). */
  baselineConnections: number;
}

/** A process whose CPU time a run counts. */
export interface Counted {
  name: string;
  pid: number;
}

export interface Target {
  /** What the generators speak: Bester frames (besterd, the minimal relay), the same as WebSocket messages, or NATS. */
  kind: 'frames' | 'ws' | 'nats';
  port: number;
  /** The clients connect over TLS and trust this CA (PEM). */
  tls?: { ca: string };
  /** besterd's other listener's port: plain TCP beside TLS (bester-tls), for bench/tls-handshakes.ts. */
  plainPort?: number;
  /** Several nodes (the cluster target): sender i on ports[i % n], its receiver on ports[(i + 1) % n]. */
  ports?: number[];
  /** besterd, the minimal relay or nats-server. */
  server: Counted;
  /** Every server process whose CPU is counted as the server's (default: `server`). */
  servers?: () => Counted[];
  /** Redis's command calls and CPU so far (the cluster target). */
  redis?: () => { calls: number; cpuUs: number };
  /** The relay handler (started by besterd, or beside the minimal relay) or the NATS relay service. */
  handler: () => Counted | null;
  stop(): Promise<void>;
}

function start(root: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  child.on('error', () => undefined);
  return child;
}

/** Resolves with the first stdout line matching `re`, within 20 s. */
function waitLine(child: ChildProcess, re: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${re} within 20 s`)), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      const m = re.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
      if (buf.length > 1 << 20) buf = buf.slice(-4096);
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before it was ready`)));
  });
}

async function startBaseline(o: TargetOptions, root: string, dir: string): Promise<Target> {
  const handlerSocket = path.join(dir, 'relay.sock');
  const handler = start(root, [path.join(root, 'bench/relay-handler.ts'), handlerSocket]);
  await waitLine(handler, /listening/);
  const relay = start(root, [path.join(root, 'bench/baseline-relay.ts'), handlerSocket, o.handlerMode, String(o.baselineConnections)]);
  const [, port] = await waitLine(relay, /listening (\d+)/);
  return {
    kind: 'frames',
    port: Number(port),
    server: { name: 'baseline-relay', pid: relay.pid! },
    handler: () => ({ name: 'relay-handler', pid: handler.pid! }),
    async stop() {
      relay.kill('SIGTERM');
      handler.kill('SIGTERM');
      await sleep(300);
    },
  };
}

/** besterd; with `secure`, a tls4 listener beside the tcp4 one, and the clients use TLS; bester-ws: a ws listener only. */
export async function startBester(o: TargetOptions, root: string, dir: string, secure = false): Promise<Target> {
  const ws = o.target === 'bester-ws';
  const cert = secure ? makeBenchCertificate(dir) : null;
  const tls4 = cert === null ? {} : { tls4: { port: '0', address: '127.0.0.1', certificate: cert.certificate, key: cert.key } };
  const config = {
    network: ws
      ? { types: ['ws'], ws: { port: 0, address: '127.0.0.1' } }
      : { types: cert === null ? ['tcp4'] : ['tcp4', 'tls4'], tcp4: { port: '0', address: '127.0.0.1' }, ...tls4 },
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
    log: { level: 'info' },
    ...(o.pipelineDepth !== undefined ? { limits: { pipelineDepth: o.pipelineDepth } } : {}),
  };
  writeFileSync(path.join(dir, 'server.conf'), JSON.stringify(config));
  const store = await openSqliteAccountStore(path.join(dir, 'bester.db'));
  for (let i = 0; i < o.pairs; i++) {
    await store.add(`s${i}`, 'bench-pw');
    await store.add(`r${i}`, 'bench-pw');
  }
  await store.close();
  // BESTER_BENCH_DAEMON_FLAGS: more Node flags for besterd only, e.g. `--cpu-prof --cpu-prof-dir=DIR` (docs/performance.md).
  const extra = (process.env['BESTER_BENCH_DAEMON_FLAGS'] ?? '').split(' ').filter((f) => f !== '');
  // BESTER_BENCH_BUILT=1: the daemon as installed (dist/, from `npm run build`) instead of the TypeScript sources.
  const entry = process.env['BESTER_BENCH_BUILT'] === '1' ? 'dist/lib/cli/besterd.js' : 'src/cli/besterd.ts';
  const daemon = start(root, [...DAEMON_NODE_FLAGS, ...extra, path.join(root, entry), path.join(dir, 'server.conf')], DAEMON_ENV);
  // The listeners open in the config's order: tcp4, then tls4.
  const listening = (kind: string): string => `${kind}://127\\.0\\.0\\.1:(\\d+)","msg":"listening"`;
  const pattern = ws ? /"address":"ws:\/\/127\.0\.0\.1:(\d+)"/ : new RegExp(cert === null ? listening('tcp4') : `${listening('tcp4')}[\\s\\S]*${listening('tls4')}`);
  const [, port, tls] = await waitLine(daemon, pattern);
  const tlsPort = cert === null ? null : Number(tls);
  return {
    kind: ws ? 'ws' : 'frames',
    port: tlsPort ?? Number(port),
    ...(cert === null ? {} : { tls: { ca: cert.ca }, plainPort: Number(port) }),
    server: { name: 'besterd', pid: daemon.pid! },
    handler: () => {
      const pid = childPids(daemon.pid!)[0];
      return pid === undefined ? null : { name: 'relay-handler', pid };
    },
    async stop() {
      daemon.kill('SIGTERM');
      await sleep(300);
    },
  };
}

export function startTarget(o: TargetOptions, root: string, dir: string): Promise<Target> {
  if (o.target === 'nats') return startNats(root);
  if (o.target === 'cluster') return startCluster(o, root, dir);
  return o.target === 'baseline' ? startBaseline(o, root, dir) : startBester(o, root, dir, o.target === 'bester-tls');
}
