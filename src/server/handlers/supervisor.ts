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

interface Entry {
  readonly type: string;
  readonly managed: ManagedHandler | null;
}

export class HandlerSupervisor {
  readonly #o: HandlerSupervisorOptions;
  /** In the order of the handlers map; `managed` null for an external handler. */
  #entries: Entry[];
  /** The handlers as last configured (a reload replaces them: update()). */
  #handlers: ReadonlyMap<string, HandlerConfig>;
  #supervision: HandlerSupervisionConfig;
  #starting: Promise<void> | null = null;
  #updating: Promise<void> = Promise.resolve();
  #stopping: Promise<void> | null = null;

  constructor(options: HandlerSupervisorOptions) {
    this.#o = options;
    this.#handlers = options.handlers;
    this.#supervision = options.supervision;
    this.#entries = [...options.handlers.values()].map((config) => this.#entryFor(config));
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
   * A reload (docs/operations.md, "Reloading the configuration"): `handlers` is the new map, and
   * `restart` the types whose process must run anew (added ones start, removed ones stop). Handlers
   * not named keep running as they are. Resolves once the stopped ones exited and the started ones
   * are ready or failed their first attempt. Never rejects.
   */
  update(handlers: ReadonlyMap<string, HandlerConfig>, supervision: HandlerSupervisionConfig, restart: readonly string[]): Promise<void> {
    // One change at a time: a restart asked for during a reload waits for it.
    const run = this.#updating.then(() => this.#update(handlers, supervision, restart));
    this.#updating = run;
    return run;
  }

  async #update(handlers: ReadonlyMap<string, HandlerConfig>, supervision: HandlerSupervisionConfig, restart: readonly string[]): Promise<void> {
    if (this.#stopping) return;
    this.#handlers = handlers;
    this.#supervision = supervision;
    const old = new Map(this.#entries.map((entry) => [entry.type, entry]));
    const stopping: Array<Promise<void>> = [];
    for (const [type, entry] of old) {
      if (!handlers.has(type) || restart.includes(type)) stopping.push(entry.managed?.stop() ?? Promise.resolve());
    }
    // A restarted handler's new process binds the same socket: the old one must be gone first.
    await Promise.all(stopping);
    if (this.#stopping) return;
    this.#entries = [...handlers.values()].map((config) => {
      const kept = old.get(config.type);
      return kept !== undefined && !restart.includes(config.type) ? kept : this.#entryFor(config);
    });
    const fresh = this.#entries.filter((entry) => entry !== old.get(entry.type));
    await Promise.all(fresh.flatMap((entry) => (entry.managed ? [entry.managed.start()] : [])));
  }

  /** Restarts one handler now (`bester handler restart TYPE`): false when there is no such handler or the daemon does not run it. */
  async restart(type: string): Promise<boolean> {
    const entry = this.#entries.find((candidate) => candidate.type === type);
    if (entry?.managed == null || this.#stopping) return false;
    await this.#updating; // a reload in progress may have changed or removed it
    if (!this.#handlers.has(type)) return false;
    await this.update(this.#handlers, this.#supervision, [type]);
    return true;
  }

  /**
   * SIGTERM each child, SIGKILL after stopTimeoutMs, wait for exits, remove the socket files of
   * handlers it started. Idempotent; safe to call while a start or a restart is pending (cancels it).
   */
  stop(): Promise<void> {
    this.#stopping ??= Promise.all(this.#managed().map((handler) => handler.stop())).then(() => undefined);
    return this.#stopping;
  }

  #entryFor(config: HandlerConfig): Entry {
    const { binary } = config;
    if (binary === null) return { type: config.type, managed: null };
    const others = [...this.#handlers.values()].filter((other) => other.type !== config.type);
    const managed = new ManagedHandler({
      config: { ...config, binary },
      supervision: this.#supervision,
      cwd: config.workingDirectory ?? this.#o.cwd,
      logger: this.#o.logger,
      env: this.#o.env ?? process.env,
      otherSockets: new Map(others.map((other) => [other.socketPath, other.type] as const)),
    });
    return { type: config.type, managed };
  }

  #managed(): ManagedHandler[] {
    return this.#entries.flatMap((entry) => (entry.managed ? [entry.managed] : []));
  }
}

function statusOfEntry(entry: Entry): HandlerStatus {
  if (entry.managed) return entry.managed.status();
  return { type: entry.type, state: 'external', pid: null, restarts: 0, lastExit: null, managed: false };
}
