// Starts a real daemon in this process for integration tests: temp dir, port 0, real SQLite file,
// real handler processes. Every test gets its own; nothing is shared or fixed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';
import { parseConfig } from '../../src/server/config/load.ts';
import { silentLogger, type Logger } from '../../src/server/log.ts';
import { startServer, type BesterServer } from '../../src/server/server.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FAKE_HANDLER = path.join(ROOT, 'test/fixtures/handlers/fake-handler.ts');
export const PY_HANDLER = path.join(ROOT, 'test/fixtures/handlers/original_style.py');
/** A handler written with the SDK: speaks multiplex/1 when offered (docs/protocol.md §4.5). */
export const SDK_HANDLER = path.join(ROOT, 'test/fixtures/handlers/sdk-handler.ts');

let python: string | null | undefined;
/** Absolute path of python3 (the CI installs it). */
export function python3(): string {
  python ??= execFileSync('sh', ['-c', 'command -v python3'], { encoding: 'utf8' }).trim();
  return python;
}

export interface HandlerSpec {
  /** "fake" (test/fixtures/handlers/fake-handler.ts, default), "python", or an explicit binary. */
  readonly kind?: 'fake' | 'python';
  /**
   * A program to run instead of `kind` (e.g. an example handler: examples/handlers/echo.ts), with
   * `args` before the socket path. '' starts nothing: the test serves the socket itself.
   */
  readonly binary?: string;
  readonly args?: readonly string[];
  readonly timeoutMs?: number;
  readonly input?: 'data' | 'envelope';
  readonly maxInFlight?: number;
  /** handlers.typeMap.T.protocol (docs/protocol.md §4.5); absent: the daemon's default, "auto". */
  readonly protocol?: 'auto' | 'original' | 'multiplex';
}

export interface TestDaemonOptions {
  readonly handlers?: Record<string, HandlerSpec>;
  readonly users?: Record<string, string>;
  readonly listeners?: ReadonlyArray<'tcp4' | 'tcp6' | 'unix' | 'tls4' | 'tls6' | 'ws' | 'wss'>;
  /** network.requireTls (docs/configuration.md). */
  readonly requireTls?: boolean;
  /** TLS material of the tls4/tls6/wss listeners (keys of docs/configuration.md, "TLS material"). */
  readonly tls?: Record<string, unknown>;
  /** Extra top-level config blocks (limits, federation, ...). */
  readonly extra?: Record<string, unknown>;
  readonly logger?: Logger;
  /**
   * Write the config to DIR/server.conf and start from that file, so that server.reload() (and
   * SIGHUP, `bester reload`) can read it again: rewrite it with writeTestConfig().
   */
  readonly configFile?: boolean;
}

export interface TestDaemon {
  readonly server: BesterServer;
  readonly dir: string;
  /** The port of the TCP listener, or else of the WebSocket listener. */
  readonly port: number;
  readonly unixPath: string;
  close(): Promise<void>;
}

export function tempDir(prefix = 'bt-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function rawConfig(dir: string, options: TestDaemonOptions): Record<string, unknown> {
  const types = options.listeners ?? ['tcp4', 'unix'];
  const handlers = options.handlers ?? {};
  const typeMap: Record<string, unknown> = {};
  for (const [type, spec] of Object.entries(handlers)) {
    const kind = spec.kind ?? 'fake';
    typeMap[type] = {
      ...(spec.binary !== undefined
        ? { handlerBinary: spec.binary, handlerArgs: [...(spec.args ?? [])] }
        : {
            handlerBinary: kind === 'python' ? python3() : process.execPath,
            handlerArgs: [kind === 'python' ? PY_HANDLER : FAKE_HANDLER],
          }),
      unixDomainSocketPath: `h-${type}.sock`,
      ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}),
      ...(spec.input !== undefined ? { input: spec.input } : {}),
      ...(spec.maxInFlight !== undefined ? { maxInFlight: spec.maxInFlight } : {}),
      ...(spec.protocol !== undefined ? { protocol: spec.protocol } : {}),
    };
  }
  return {
    network: {
      types,
      ...(options.requireTls === undefined ? {} : { requireTls: options.requireTls }),
      tcp4: { port: '0', address: '127.0.0.1' },
      tcp6: { port: '0', address: '::1' },
      unix: { address: path.join(dir, 'bester.sock') },
      ...(options.tls === undefined
        ? {}
        : { tls4: { port: '0', address: '127.0.0.1', ...options.tls }, tls6: { port: '0', address: '::1', ...options.tls } }),
      // Only when listed: an unlisted block is warned about.
      ...(types.includes('ws') ? { ws: { port: '0', address: '127.0.0.1' } } : {}),
      ...(types.includes('wss') ? { wss: { port: '0', address: '127.0.0.1', ...options.tls } } : {}),
    },
    handlers: { availableTypes: Object.keys(handlers), typeMap },
    supervision: { restartDelayMs: 50, maxRestartDelayMs: 200, startTimeoutMs: 10000, stopTimeoutMs: 2000 },
    ...options.extra,
  };
}

/** Writes `raw` (rawConfig's output, or any JSON) as DIR/server.conf; returns its path. */
export function writeTestConfig(dir: string, raw: unknown): string {
  const file = path.join(dir, 'server.conf');
  writeFileSync(file, typeof raw === 'string' ? raw : JSON.stringify(raw, null, 2));
  return file;
}

export async function startTestDaemon(options: TestDaemonOptions = {}): Promise<TestDaemon> {
  const dir = tempDir();
  const raw = rawConfig(dir, options);
  const configPath = options.configFile === true ? writeTestConfig(dir, raw) : null;
  const { config } = parseConfig(raw, { baseDir: dir, configPath });
  const users = options.users ?? { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' };
  if (config.accounts.kind !== 'sqlite') throw new Error('tests use the SQLite store');
  const store = await openSqliteAccountStore(config.accounts.path);
  for (const [name, pw] of Object.entries(users)) await store.add(name, pw);
  await store.close();
  const server = await startServer(config, { logger: options.logger ?? silentLogger() });
  const tcp = server.listeners.find((l) => l.kind !== 'unix');
  return {
    server,
    dir,
    port: tcp?.port ?? 0,
    unixPath: path.join(dir, 'bester.sock'),
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
