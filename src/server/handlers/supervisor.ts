// Starts, watches, restarts and stops the message handlers the daemon runs itself
// (docs/architecture.md, "Handler links"). Handlers without a binary are
// 'external': someone else runs them and they are called as they are.
import type { HandlerConfig, HandlerSupervisionConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { ManagedHandler } from './managed-handler.ts';

export type HandlerState = 'external' | 'starting' | 'ready' | 'backoff' | 'failed' | 'stopping' | 'stopped';

export interface HandlerStatus {
  type: string;
  state: HandlerState;
  /** The running child's pid; null while none runs. */
  pid: number | null;
  /** Start attempts after the first one (restarts after an exit or after a failed start). */
  restarts: number;
  /** The last exit of a child that had started (a binary that could not be spawned has none). */
  lastExit: { code: number | null; signal: string | null; at: string } | null;
  /** Whether the daemon starts this handler (it has a binary). */
  managed: boolean;
}

export interface HandlerSupervisorOptions {
  handlers: ReadonlyMap<string, HandlerConfig>;
  supervision: HandlerSupervisionConfig;
  /** Working directory of started handlers without a `workingDirectory` of their own: the config file's folder. */
  cwd: string;
  logger: Logger;
  /** Base environment of started handlers (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export class HandlerSupervisor {
  /** In the order of the handlers map; null for an external handler. */
  readonly #entries: ReadonlyArray<{ readonly type: string; readonly managed: ManagedHandler | null }>;
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;

  constructor(options: HandlerSupervisorOptions) {
    const env = options.env ?? process.env;
    const logger = options.logger;
    const sockets = new Map([...options.handlers.values()].map((config) => [config.socketPath, config.type] as const));
    this.#entries = [...options.handlers.values()].map((config) => {
      const { binary } = config;
      const managed =
        binary === null
          ? null
          : new ManagedHandler({
              config: { ...config, binary },
              supervision: options.supervision,
              cwd: config.workingDirectory ?? options.cwd,
              logger,
              env,
              otherSockets: new Map([...sockets].filter(([, type]) => type !== config.type)),
            });
      return { type: config.type, managed };
    });
  }

  /**
   * Starts every handler with a binary; resolves once each has become ready or failed its first
   * attempt (bounded by startTimeoutMs). Never rejects. Handlers without a binary are 'external'
   * and are used as they are.
   */
  start(): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    this.#starting ??= Promise.all(this.#managed().map((handler) => handler.start())).then(() => undefined);
    return this.#starting;
  }

  status(): HandlerStatus[] {
    return this.#entries.map(statusOfEntry);
  }

  statusOf(type: string): HandlerStatus | undefined {
    const entry = this.#entries.find((candidate) => candidate.type === type);
    return entry && statusOfEntry(entry);
  }

  /**
   * SIGTERM each child, SIGKILL after stopTimeoutMs, wait for exits, remove the socket files of
   * handlers it started. Idempotent; safe to call while a start or a restart is pending (cancels it).
   */
  stop(): Promise<void> {
    this.#stopping ??= Promise.all(this.#managed().map((handler) => handler.stop())).then(() => undefined);
    return this.#stopping;
  }

  #managed(): ManagedHandler[] {
    return this.#entries.flatMap((entry) => (entry.managed ? [entry.managed] : []));
  }
}

function statusOfEntry(entry: { readonly type: string; readonly managed: ManagedHandler | null }): HandlerStatus {
  if (entry.managed) return entry.managed.status();
  return { type: entry.type, state: 'external', pid: null, restarts: 0, lastExit: null, managed: false };
}
