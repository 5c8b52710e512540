// `besterd CONFIG`: the daemon's entry (the original's one-argument form), plus --check and --help.
// Importable without side effects; besterd.ts is the process entry.
import { Buffer } from 'node:buffer';
import { parseArgs } from 'node:util';
import { isBesterError } from '../protocol/errors.ts';
import { loadConfig } from '../server/config/load.ts';
import { createLogger, type Logger } from '../server/log.ts';
import { startServer, type BesterServer } from '../server/server.ts';
import { runCheckConfig } from './check-config.ts';
import { packageVersion } from './package-version.ts';

const HELP = `Usage: besterd [options] CONFIG

Runs the Bester daemon with the configuration file CONFIG (the original's server.conf
format, plus the keys in docs/configuration.md). Logs are JSON lines on standard output.

Options:
  --check         check CONFIG and exit (0 valid, 1 invalid) without starting
  --log-level L   override log.level (fatal, error, warn, info, debug, trace, silent)
  -h, --help      show this help
  -v, --version   show the version

Signals: SIGTERM or SIGINT stop the daemon cleanly (exit 0): handler calls in progress get
shutdown.graceMs to finish. A second signal ends that wait (they are cancelled, the stop stays
clean); a third exits at once (exit 1).
Exit codes: 0 stopped cleanly, 1 could not start (bad config, port in use), 2 usage error.
`;

export interface DaemonIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
type Level = (typeof LEVELS)[number];

export interface Running {
  readonly server: BesterServer;
  readonly logger: Logger;
}

/** Parses argv and either prints/checks (returns an exit code) or starts the daemon (returns it running). */
/**
 * Frames the daemon encodes (reports, deliveries, handler requests) are Buffer.allocUnsafe'd.
 * Node serves those from a shared pool only below half of Buffer.poolSize (8 KiB by default), so
 * each frame of 4 KiB or more got its own ArrayBuffer: at 4 KiB payloads the garbage collector
 * was 16% of the daemon's time (docs/performance.md). A 64 KiB pool serves frames up to 32 KiB.
 * Process-wide, so set here in the daemon's process entry, not in startServer (a library call).
 */
export const DAEMON_BUFFER_POOL_BYTES = 64 * 1024;

function tuneBufferPool(): void {
  if (Buffer.poolSize < DAEMON_BUFFER_POOL_BYTES) Buffer.poolSize = DAEMON_BUFFER_POOL_BYTES;
}

export async function runDaemon(argv: readonly string[], io: DaemonIo): Promise<number | Running> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        check: { type: 'boolean' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (err) {
    io.stderr.write(`besterd: ${(err as Error).message}\nTry 'besterd --help'.\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    io.stdout.write(`besterd ${await packageVersion()}\n`);
    return 0;
  }
  if (positionals.length !== 1) {
    io.stderr.write(`besterd: expected exactly one argument, the config file\nTry 'besterd --help'.\n`);
    return 2;
  }
  const configPath = positionals[0]!;
  if (values.check) return runCheckConfig(configPath, io);
  const level = values['log-level'];
  if (level !== undefined && !(LEVELS as readonly string[]).includes(level)) {
    io.stderr.write(`besterd: --log-level must be one of ${LEVELS.join(', ')}\n`);
    return 2;
  }

  let logger: Logger | null = null;
  try {
    const { config, warnings } = await loadConfig(configPath);
    tuneBufferPool();
    logger = createLogger({ level: (level as Level | undefined) ?? config.log.level });
    for (const warning of warnings) logger.warn({ configPath }, `config: ${warning}`);
    const server = await startServer(config, { logger, logLevelFixed: level !== undefined });
    logger.info({ listeners: server.listeners.map((l) => l.address), handlers: [...config.handlers.keys()] }, 'besterd started');
    return { server, logger };
  } catch (err) {
    const message = isBesterError(err) ? err.message : String((err as Error)?.stack ?? err);
    logger?.fatal({ err: message }, 'could not start');
    io.stderr.write(`besterd: ${message}\n`);
    return 1;
  }
}

/** Installs signal handlers and the process-wide error boundary for a running daemon. */
export function superviseProcess(running: Running): void {
  const { server, logger } = running;
  let stopping = false;
  let signals = 0;
  /** docs/operations.md "Stopping and restarting": the first signal stops cleanly, a second ends the grace period, a third exits at once. */
  const onSignal = (signal: string): void => {
    signals++;
    if (signals === 1) stop(signal);
    else if (signals === 2) {
      logger.warn({ signal }, 'second signal: ending the grace period, cancelling handler calls in progress');
      server.hurry();
    } else {
      logger.fatal({ signal }, 'third signal: exiting at once, without finishing the shutdown');
      process.exit(1);
    }
  };
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    server.close().then(
      () => {
        process.exitCode ??= 0;
        // Stopped. A Redis client destroyed during its reconnect pause (node-redis waits it out, up
        // to 5 s) would still keep the process alive: not more than a second (docs/scaling.md).
        setTimeout(() => process.exit(), 1000).unref();
      },
      (err: unknown) => {
        logger.error({ err }, 'error while stopping');
        process.exitCode = 1;
      },
    );
  };
  // docs/operations.md "Reloading the configuration": the file is read again; sessions stay.
  process.on('SIGHUP', () => {
    if (stopping) return;
    logger.info({ signal: 'SIGHUP' }, 'reloading the configuration');
    server.reload().then(undefined, (err: unknown) => logger.error({ err }, 'reload failed (bug: please report)'));
  });
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  // A bug in one connection's code path must not take every other connection down with it.
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason }, 'unhandled rejection (bug: please report)');
  });
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception (bug: please report); stopping');
    stop('uncaughtException');
    process.exitCode = 70;
  });
}
