// Reloading the configuration while running (docs/operations.md, "Reloading the configuration"):
// SIGHUP, `bester reload` and server.reload() come here. The new file is loaded and checked whole;
// a config with errors is refused and the running one kept. What changed is sorted by
// config/diff.ts and applied part by part; sessions stay connected through all of it.
import { loadConfig, InvalidConfigError } from './config/load.ts';
import { diffConfigs, type ConfigChanges } from './config/diff.ts';
import type { ListenerConfig, ServerConfig } from './config/types.ts';
import type { ServerEvents } from './events.ts';
import type { Federation } from './federation/federation.ts';
import { makeSocketFolders } from './handlers/environment.ts';
import type { HandlerPool } from './handlers/handler-pool.ts';
import type { HandlerSupervisor } from './handlers/supervisor.ts';
import { setLogLevel, type Logger } from './log.ts';
import type { Router } from './routing/router.ts';

/** What a reload did: `ok` false when the new config was refused (the running one stays). */
export type ReloadResult =
  | { readonly ok: true; readonly applied: readonly string[]; readonly restartNeeded: readonly string[] }
  | { readonly ok: false; readonly errors: readonly string[] };

/** The parts of a running daemon a reload changes. */
export interface ReloadTargets {
  readonly logger: Logger;
  /** The log level came from the command line (besterd --log-level): the file's does not replace it. */
  readonly logLevelFixed: boolean;
  readonly events: ServerEvents;
  readonly router: Router;
  readonly supervisor: HandlerSupervisor;
  readonly pool: HandlerPool;
  readonly federation: Federation;
  /** Everything that holds limits: connection caps, logins, the sessions already open. */
  readonly limitsChanged: (limits: ServerConfig['limits']) => void;
  /** TLS listeners re-read their certificate files (each listener with its new config). */
  readonly listeners: () => ReadonlyArray<{ readonly kind: string; reload?(config: ListenerConfig): Promise<void> }>;
}

/** A change of handler waits this long between looks at the calls still in progress. */
const DRAIN_POLL_MS = 20;

export class Reloader {
  readonly #t: ReloadTargets;
  #config: ServerConfig;
  /** One reload at a time: a SIGHUP during a reload waits for it. */
  #queue: Promise<unknown> = Promise.resolve();
  readonly #log: Logger;

  constructor(config: ServerConfig, targets: ReloadTargets) {
    this.#config = config;
    this.#t = targets;
    this.#log = targets.logger.child({ component: 'reload' });
  }

  /** The config in force now (a reload replaces it). */
  get config(): ServerConfig {
    return this.#config;
  }

  /**
   * Reloads from `next`, or else from the file the running config came from. Never rejects: a
   * config that cannot be read or has errors is refused (logged, counted) and the running one kept.
   */
  reload(next?: ServerConfig): Promise<ReloadResult> {
    const run = this.#queue.then(() => this.#reload(next));
    this.#queue = run;
    return run;
  }

  /** `bester handler restart TYPE`: false when the daemon does not run a handler of that type. */
  restartHandler(type: string): Promise<boolean> {
    const run = this.#queue.then(async () => {
      const restarted = await this.#t.supervisor.restart(type);
      if (restarted) this.#log.info({ handler: type }, 'handler restarted on request');
      return restarted;
    });
    this.#queue = run;
    return run;
  }

  async #reload(given: ServerConfig | undefined): Promise<ReloadResult> {
    let next: ServerConfig;
    try {
      next = given ?? (await this.#load());
    } catch (err) {
      const errors = err instanceof InvalidConfigError ? [...err.errors] : [String(err)];
      this.#log.error({ errors }, 'reload refused: the configuration has errors; the running one is kept');
      this.#t.events.emit('config.reload', { outcome: 'refused', applied: [], restartNeeded: [], errors });
      return { ok: false, errors };
    }
    const changes = diffConfigs(this.#config, next);
    try {
      await this.#apply(this.#effective(next, changes), changes);
      await this.#reloadListeners(next.listeners);
    } catch (err) {
      // Each step below is built not to throw; a bug here must still leave the daemon running.
      this.#log.error({ err }, 'reload failed part way (bug: please report)');
      this.#t.events.emit('config.reload', { outcome: 'failed', applied: changes.applied, restartNeeded: changes.restartNeeded, errors: [String(err)] });
      return { ok: false, errors: [String(err)] };
    }
    if (changes.restartNeeded.length > 0) {
      this.#log.warn({ keys: changes.restartNeeded }, 'reload: these changes take effect only when the daemon restarts');
    }
    this.#log.info({ applied: changes.applied }, changes.applied.length === 0 ? 'reload: nothing changed' : 'configuration reloaded');
    this.#t.events.emit('config.reload', { outcome: 'applied', applied: changes.applied, restartNeeded: changes.restartNeeded, errors: [] });
    return { ok: true, applied: changes.applied, restartNeeded: changes.restartNeeded };
  }

  async #load(): Promise<ServerConfig> {
    const file = this.#config.configPath;
    if (file === null) throw new InvalidConfigError('this server was started without a config file', ['no config file to reload from'], []);
    const { config, warnings } = await loadConfig(file);
    for (const warning of warnings) this.#log.warn({ configPath: file }, `config: ${warning}`);
    return config;
  }

  /** `next` with what only a restart changes taken from the running config: what runs is what it says. */
  #effective(next: ServerConfig, changes: ConfigChanges): ServerConfig {
    const old = this.#config;
    if (changes.restartNeeded.length === 0) return next;
    return {
      ...next,
      listeners: old.listeners,
      accounts: old.accounts,
      informer: old.informer,
      offline: old.offline,
      adminHttp: old.adminHttp,
      federation: { ...next.federation, nodeId: old.federation.nodeId },
    };
  }

  async #apply(next: ServerConfig, changes: ConfigChanges): Promise<void> {
    const t = this.#t;
    const old = this.#config;
    this.#config = next;
    if (changes.logLevel && !t.logLevelFixed) setLogLevel(t.logger, next.log.level);
    if (changes.limits) t.limitsChanged(next.limits);

    // Handlers: new messages see the new map at once; removed and restarted ones get their calls in
    // progress finished first (within shutdown.graceMs), then their processes stop (and start anew).
    const { added, removed, restarted, updated } = changes.handlers;
    t.router.reconfigure(next.handlers, next.limits);
    const leaving = [...removed, ...restarted];
    for (const type of [...leaving, ...updated]) t.pool.retire(type);
    if (leaving.length > 0) await this.#drain(leaving, next.shutdown.graceMs);
    await makeSocketFolders([...added, ...restarted].map((type) => next.handlers.get(type)));
    if (added.length + leaving.length > 0 || changes.applied.some((key) => key.startsWith('supervision.'))) {
      await t.supervisor.update(next.handlers, next.supervision, restarted);
    }

    const { peers } = changes;
    const renew = changes.federationSettings ? [...old.federation.peers.keys()] : [...peers.removed, ...peers.changed];
    if (renew.length > 0 || peers.added.length > 0 || changes.federationSettings) t.federation.reconfigure(next.federation, renew);

  }

  /** Waits until no call to the handlers of `types` is in progress, or `graceMs` passed. */
  async #drain(types: readonly string[], graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (types.some((type) => this.#t.router.inFlight(type) > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
  }

  /** Certificates are re-read on every reload, changed or not (they are renewed in place). */
  async #reloadListeners(configs: readonly ListenerConfig[]): Promise<void> {
    const listeners = this.#t.listeners();
    await Promise.all(listeners.map(async (listener, index) => {
      const config = configs[index];
      if (listener.reload === undefined || config === undefined || config.kind !== listener.kind) return;
      try {
        await listener.reload(config);
      } catch (err) {
        this.#log.error({ err: err instanceof Error ? err.message : String(err), listener: listener.kind }, 'reload: the listener kept its certificate');
      }
    }));
  }
}
