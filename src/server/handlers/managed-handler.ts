// One handler process the daemon starts itself: spawn, wait until its socket accepts, restart
// with backoff when it dies or fails to start, stop on shutdown. State changes go through
// #setState only; the allowed moves are in TRANSITIONS.
import { spawn, type ChildProcess } from 'node:child_process';
import { reapAtExit } from './child-reaper.ts';
import { lstat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HandlerConfig, HandlerSupervisionConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { HandlerState, HandlerStatus } from './supervisor.ts';
import { MULTIPLEX_PROTOCOL } from '../../protocol/handler-multiplex.ts';
import { HandlerOutput } from './handler-output.ts';
import { listeningElsewhere } from './listening-sockets.ts';
import { clearStaleSocket, listeningInProcNetUnix, probeUnixSocket } from '../transport/socket-probe.ts';

export interface ManagedHandlerOptions {
  config: HandlerConfig & { readonly binary: string };
  supervision: HandlerSupervisionConfig;
  cwd: string;
  logger: Logger;
  env: NodeJS.ProcessEnv;
  /** The sockets of the other handlers (absolute path -> type). */
  otherSockets?: ReadonlyMap<string, string>;
}

const TRANSITIONS: Readonly<Record<HandlerState, readonly HandlerState[]>> = {
  external: [],
  stopped: ['starting', 'stopping'],
  starting: ['ready', 'backoff', 'failed', 'stopping'],
  ready: ['backoff', 'stopping'],
  backoff: ['starting', 'stopping'],
  failed: ['stopping'],
  stopping: ['stopped'],
};

/** How often a starting handler's socket is checked. */
const POLL_MS = 40;
/** A child that was ready and stayed up this long resets the restart delay. */
const STABLE_UPTIME_MS = 30_000;
/** How long the restart line waits for the last stderr lines of a child that exited. */
const STDERR_WAIT_MS = 100;
const NO_OUTPUT = new HandlerOutput(() => {}, false);
/** How often a starting handler that does not accept yet is asked where it listens instead. */
const WHERE_POLL_MS = 500;
/**
 * How long the socket file may exist without /proc/net/unix listing it as listening before we
 * fall back to a connect probe (the handler bound a path we could not match, e.g. via a symlink).
 * bind() to listen() takes microseconds, so this never catches a handler between the two.
 */
const PROC_GRACE_MS = 250;

/** One spawned child process. */
interface Run {
  readonly child: ChildProcess;
  readonly pid: number | null;
  readonly startedAt: number;
  readyAt: number | null;
  exited: boolean;
  readonly exit: Promise<void>;
  readonly output: HandlerOutput;
  /** Where it listens instead of its configured socket, once seen (said once per run). */
  elsewhere: string[] | null;
}

export class ManagedHandler {
  readonly #config: ManagedHandlerOptions['config'];
  readonly #supervision: HandlerSupervisionConfig;
  readonly #cwd: string;
  readonly #otherSockets: ReadonlyMap<string, string>;
  readonly #env: NodeJS.ProcessEnv;
  readonly #log: Logger;
  readonly #firstOutcome = Promise.withResolvers<void>();
  #state: HandlerState = 'stopped';
  #run: Run | null = null;
  #restarts = 0;
  #lastExit: HandlerStatus['lastExit'] = null;
  #delayMs: number;
  #backoffTimer: NodeJS.Timeout | null = null;
  /** Aborts the start attempt in progress (its sleeps and probes). */
  #attempt: AbortController | null = null;
  #attemptDone: Promise<void> = Promise.resolve();
  #started = false;
  #stopping: Promise<void> | null = null;
  /** Set once we spawned a child for the path: stop() then removes the socket file. */
  #ownsSocket = false;
  /** The last run failed: hold the next run's output until it is ready (handler-output.ts). */
  #failing = false;
  /** The last failure's reason, so that a failure repeating itself is not logged in full again. */
  #lastReason: string | null = null;

  constructor(options: ManagedHandlerOptions) {
    this.#config = options.config;
    this.#supervision = options.supervision;
    this.#cwd = options.cwd;
    this.#otherSockets = options.otherSockets ?? new Map();
    this.#env = options.env;
    this.#log = options.logger.child({ handler: options.config.type });
    this.#delayMs = options.supervision.restartDelayMs;
  }

  status(): HandlerStatus {
    const run = this.#run;
    return {
      type: this.#config.type,
      state: this.#state,
      pid: run && !run.exited ? run.pid : null,
      restarts: this.#restarts,
      lastExit: this.#lastExit && { ...this.#lastExit },
      managed: true,
    };
  }

  /** Resolves once the first attempt became ready or failed, or stop() was called. Never rejects. */
  start(): Promise<void> {
    if (!this.#started && this.#stopping === null) {
      this.#started = true;
      this.#beginAttempt();
    }
    return this.#firstOutcome.promise;
  }

  /** Idempotent; cancels a pending start or restart. Never rejects. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  #setState(next: HandlerState): void {
    const from = this.#state;
    if (from === next) return;
    if (!TRANSITIONS[from].includes(next)) this.#log.error({ from, to: next }, 'unexpected handler state change');
    this.#state = next;
    this.#log.debug({ from, to: next }, 'handler state');
    if (next !== 'starting') this.#firstOutcome.resolve();
  }

  #beginAttempt(): void {
    this.#setState('starting');
    const controller = new AbortController();
    this.#attempt = controller;
    this.#attemptDone = this.#runAttempt(controller.signal).catch((err: unknown) => {
      this.#log.error({ err }, 'handler start failed unexpectedly');
      this.#failAttempt('internal error while starting');
    });
  }

  async #runAttempt(signal: AbortSignal): Promise<void> {
    const startedAt = performance.now();
    const deadline = startedAt + this.#supervision.startTimeoutMs;
    const previous = this.#run;
    if (previous && !previous.exited) await untilAborted(previous.exit, signal);
    if (signal.aborted) return;
    const free = await this.#clearSocketPath(signal);
    if (signal.aborted) return;
    if (!free) {
      this.#failAttempt('its socket path is not free');
      return;
    }
    const run = this.#spawn();
    if (!run) return;
    const seen = { since: null as number | null };
    let nextWhere = performance.now() + PROC_GRACE_MS;
    while (!signal.aborted) {
      if (performance.now() >= deadline) {
        const where = run.elsewhere ? `; it listens at ${run.elsewhere.join(', ')} instead` : '';
        this.#failAttempt(`its socket did not accept within ${this.#supervision.startTimeoutMs} ms${where}`);
        return;
      }
      const accepting = await this.#accepting(seen, signal);
      if (signal.aborted) return;
      if (accepting) {
        run.readyAt = performance.now();
        this.#attempt = null;
        this.#failing = false;
        this.#lastReason = null;
        run.output.release();
        this.#setState('ready');
        this.#log.info({ pid: run.pid, ms: Math.round(run.readyAt - startedAt) }, 'handler ready');
        return;
      }
      if (performance.now() >= nextWhere && run.elsewhere === null) {
        nextWhere = performance.now() + WHERE_POLL_MS;
        await this.#sayWhereItListens(run);
      }
      try {
        await sleep(POLL_MS, undefined, { signal });
      } catch {
        return; // aborted
      }
    }
  }

  /** Where a handler not accepting at its socket listens, by its pid; at another's socket it has failed. */
  async #sayWhereItListens(run: Run): Promise<void> {
    const configured = path.resolve(this.#cwd, this.#config.socketPath);
    const paths = run.pid === null ? null : await listeningElsewhere(run.pid, configured);
    if (paths === null || run.exited) return;
    run.elsewhere = paths;
    const where = `handler listens at ${paths.join(', ')}, not at its configured socket ${configured}`;
    this.#log.warn({ pid: run.pid, listening: paths, socketPath: configured, cwd: this.#cwd }, `${where} (it was started in ${this.#cwd})`);
    const taken = paths.find((where) => this.#otherSockets.has(where));
    if (taken !== undefined) this.#failAttempt(`it listens at ${taken}, the socket of handler ${this.#otherSockets.get(taken)}`);
  }

  /** Before spawning: unlink a stale socket file; refuse if another process serves the path. */
  async #clearSocketPath(signal: AbortSignal): Promise<boolean> {
    const socketPath = this.#config.socketPath;
    try {
      const outcome = await clearStaleSocket(socketPath, { cwd: this.#cwd, signal });
      if (signal.aborted) return false;
      if (outcome === 'removed') this.#log.info({ socketPath }, 'removed stale handler socket file');
      if (outcome === 'in-use') this.#log.error({ socketPath }, 'another process serves the handler socket; not starting one');
      if (outcome === 'not-a-socket') this.#log.error({ socketPath }, 'handler socket path is not a socket; leaving it');
      return outcome === 'free' || outcome === 'removed';
    } catch (err) {
      this.#log.error({ err, socketPath }, 'cannot remove stale handler socket file');
      return false;
    }
  }

  /**
   * Whether the started handler's socket accepts. Uses /proc/net/unix where it can, so handlers
   * written for the original (which crash on a connection that sends nothing) are not connected to.
   */
  async #accepting(seen: { since: number | null }, signal: AbortSignal): Promise<boolean> {
    const socketPath = this.#config.socketPath;
    const isSocket = await lstat(socketPath).then(
      (stats) => stats.isSocket(),
      () => false,
    );
    if (!isSocket) {
      seen.since = null;
      return false;
    }
    const listed = await listeningInProcNetUnix(socketPath, this.#cwd, signal);
    // Not checked to be our child's: a handler may hand its socket to a process outside its tree
    // (a container); one of ours listening at another's socket fails its start (#sayWhereItListens).
    if (listed === true) return true;
    seen.since ??= performance.now();
    if (listed === null || performance.now() - seen.since >= PROC_GRACE_MS) {
      return probeUnixSocket(socketPath, { timeoutMs: 500, signal });
    }
    return false;
  }

  #spawn(): Run | null {
    const { binary, args, socketPath, type, input, protocol } = this.#config;
    // docs/protocol.md §4.5.1: multiplex/1 is offered unless the handler is to be called the original way.
    const env: NodeJS.ProcessEnv = { ...this.#env, BESTER_HANDLER_SOCKET: socketPath, BESTER_HANDLER_TYPE: type, BESTER_HANDLER_INPUT: input };
    if (protocol === 'original') delete env.BESTER_HANDLER_PROTOCOLS;
    else env.BESTER_HANDLER_PROTOCOLS = MULTIPLEX_PROTOCOL;
    let child: ChildProcess;
    try {
      child = spawn(binary, [...args, socketPath], {
        cwd: this.#cwd,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      // Invalid arguments (e.g. a NUL byte): retrying cannot help.
      this.#log.error({ err, binary }, `cannot start handler binary ${binary}`);
      this.#setState('failed');
      return null;
    }
    this.#ownsSocket = true;
    const exited = Promise.withResolvers<void>();
    const output = new HandlerOutput((stream, line) => {
      if (stream === 'stdout') this.#log.info({ pid: child.pid, stream }, line);
      else this.#log.warn({ pid: child.pid, stream }, line);
    }, this.#failing);
    const run: Run = {
      child,
      pid: child.pid ?? null,
      startedAt: performance.now(),
      readyAt: null,
      exited: false,
      exit: exited.promise,
      output,
      elsewhere: null,
    };
    if (run.pid !== null) reapAtExit(child);
    const gone = (code: number | null, signal: NodeJS.Signals | null, reason: string): void => {
      if (run.exited) return;
      run.exited = true;
      exited.resolve();
      this.#onExit(run, code, signal, reason);
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (run.pid === null) {
        const reason = `its binary could not be started (${err.code ?? err.message})`;
        if (this.#lastReason !== reason) this.#log.error({ err, binary, cwd: this.#cwd }, `cannot start handler binary ${binary} (${err.code ?? err.message})`);
        gone(null, null, reason);
      } else {
        this.#log.warn({ err, pid: run.pid }, 'handler process error');
      }
    });
    child.on('exit', (code, signal) => gone(code, signal, `it exited (code ${code}, signal ${signal})`));
    output.attach(child);
    this.#run = run;
    this.#log.debug({ pid: run.pid, binary, args }, 'handler spawned');
    return run;
  }

  #onExit(run: Run, code: number | null, signal: NodeJS.Signals | null, reason: string): void {
    if (run.pid !== null) this.#lastExit = { code, signal, at: new Date().toISOString() };
    if (run !== this.#run) return;
    if (this.#state === 'starting') {
      this.#failAttempt(reason);
    } else if (this.#state === 'ready') {
      if (performance.now() - run.startedAt >= STABLE_UPTIME_MS) this.#delayMs = this.#supervision.restartDelayMs;
      this.#enterBackoff('handler exited', { pid: run.pid, code, signal }, run.output);
    }
  }

  /** The start attempt in progress failed: kill its child if alive, then back off. */
  #failAttempt(reason: string): void {
    if (this.#state !== 'starting') return;
    this.#attempt?.abort();
    this.#attempt = null;
    const run = this.#run;
    if (run && !run.exited) run.child.kill('SIGKILL');
    // Said in its own line the first time; a failure repeating itself is only in the restart line.
    if (reason !== this.#lastReason) this.#log.warn({ reason }, `handler did not start: ${reason}`);
    this.#lastReason = reason;
    this.#enterBackoff('handler restarting after a delay', { reason: `did not start: ${reason}` }, run?.output);
  }

  /** One line per restart: why, the delay, the last stderr lines; output held until ready (handler-output.ts). */
  #enterBackoff(message: string, fields: Record<string, unknown>, output: HandlerOutput | undefined): void {
    const { restartDelayMs, maxRestartDelayMs } = this.#supervision;
    const base = this.#delayMs;
    const delayMs = Math.round(Math.min(base * (0.8 + Math.random() * 0.4), maxRestartDelayMs));
    this.#delayMs = Math.max(restartDelayMs, Math.min(base * 2, maxRestartDelayMs));
    this.#failing = true;
    this.#setState('backoff');
    const restart = this.#restarts + 1;
    const log = (): void => this.#log.warn({ ...fields, stderr: output?.stderrTail() ?? [], delayMs, restart }, message);
    (output ?? NO_OUTPUT).afterEnd(STDERR_WAIT_MS, log);
    this.#backoffTimer = setTimeout(() => {
      this.#backoffTimer = null;
      this.#restarts += 1;
      this.#beginAttempt();
    }, delayMs);
  }

  async #stop(): Promise<void> {
    this.#setState('stopping');
    if (this.#backoffTimer) clearTimeout(this.#backoffTimer);
    this.#backoffTimer = null;
    this.#attempt?.abort();
    this.#attempt = null;
    try {
      await this.#attemptDone;
      const run = this.#run;
      if (run && !run.exited) await this.#terminate(run);
      if (this.#ownsSocket) await this.#removeSocketFile();
    } catch (err) {
      this.#log.error({ err }, 'error while stopping handler');
    } finally {
      this.#setState('stopped');
    }
  }

  /** SIGTERM, then SIGKILL after stopTimeoutMs; resolves when the child has exited. */
  async #terminate(run: Run): Promise<void> {
    run.child.kill('SIGTERM');
    const killTimer = setTimeout(() => {
      if (run.exited) return;
      this.#log.warn({ pid: run.pid, stopTimeoutMs: this.#supervision.stopTimeoutMs }, 'handler ignored SIGTERM; killing it');
      run.child.kill('SIGKILL');
    }, this.#supervision.stopTimeoutMs);
    await run.exit;
    clearTimeout(killTimer);
  }

  async #removeSocketFile(): Promise<void> {
    const socketPath = this.#config.socketPath;
    try {
      if ((await lstat(socketPath)).isSocket()) await unlink(socketPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#log.warn({ err, socketPath }, 'cannot remove handler socket file');
    }
  }
}

/** Resolves when `promise` settles or `signal` aborts, whichever comes first. */
function untilAborted(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    promise.then(done, done);
  });
}
