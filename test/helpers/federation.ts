// Several real daemons on loopback for federation tests: each in its own temp dir (kept across
// restarts, so its SQLite outbox survives), on a port the OS picked and that it keeps on restart.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';
import { parseConfig } from '../../src/server/config/load.ts';
import type { Logger } from '../../src/server/log.ts';
import { startServer, type BesterServer } from '../../src/server/server.ts';
import { ROOT, rawConfig, tempDir } from './daemon.ts';

export const ROUTE_HANDLER = path.join(ROOT, 'test/fixtures/handlers/route-handler.ts');
export const SECRET = 'federation-test-secret-0123456789';

export interface NodeSpec {
  readonly name: string;
  readonly handlers: readonly string[];
  readonly users?: readonly string[];
  /** The `federation` config block without nodeId (filled in). */
  readonly federation?: Record<string, unknown>;
}

/** A log sink that keeps every JSON line, for asserting that a refusal was logged with its reason. */
export function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

export class TestNode {
  readonly spec: NodeSpec;
  readonly dir = tempDir('bf-');
  port = 0;
  server: BesterServer | null = null;
  readonly log = captureLogger();

  constructor(spec: NodeSpec) {
    this.spec = spec;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(federation: Record<string, unknown> = this.spec.federation ?? {}): Promise<this> {
    const handlers = Object.fromEntries(this.spec.handlers.map((t) => [t, { binary: process.execPath, args: [ROUTE_HANDLER] }]));
    const raw = rawConfig(this.dir, {
      listeners: ['tcp4'],
      handlers,
      extra: { federation: { nodeId: this.spec.name, heartbeatMs: 500, reconnectDelayMs: 50, maxReconnectDelayMs: 300, ...federation } },
    });
    (raw.network as { tcp4: { port: string } }).tcp4.port = String(this.port);
    const { config } = parseConfig(raw, { baseDir: this.dir });
    if (config.accounts.kind === 'sqlite') {
      const store = await openSqliteAccountStore(config.accounts.path);
      for (const user of this.spec.users ?? []) if (!(await store.has(user))) await store.add(user, `${user}-pw`);
      await store.close();
    }
    this.server = await startServer(config, { logger: this.log.logger });
    this.port = this.server.listeners[0]!.port!;
    return this;
  }

  async stop(): Promise<void> {
    await this.server?.close();
    this.server = null;
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A peer entry for `node` as seen from another server. */
export function peerOf(node: TestNode, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { address: node.address, secret: SECRET, ...extra };
}

export async function waitFor(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
