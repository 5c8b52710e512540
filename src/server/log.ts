// The one place that writes logs: pino JSON lines (STYLE.md #10).
// Never log passwords: the redact paths below cover the login header wherever a frame is logged.
import { pino, type Logger, type DestinationStream } from 'pino';
import type { LogConfig } from './config/types.ts';

export type { Logger } from 'pino';

const REDACT = [
  'password',
  '*.password',
  'authentication.password',
  '*.authentication.password',
  'header.authentication.password',
  '*.header.authentication.password',
];

/** The children of each logger made by createLogger: a pino child keeps the level it was made with. */
const CHILDREN = new WeakMap<Logger, Set<WeakRef<Logger>>>();

export function createLogger(config: LogConfig, destination?: DestinationStream): Logger {
  const children = new Set<WeakRef<Logger>>();
  let pruneAt = 1024;
  const options = {
    level: config.level,
    base: { name: 'besterd' },
    redact: { paths: REDACT, censor: '[redacted]' },
    // Called for children of children too. Per-connection children come and go: forget dead ones.
    onChild: (child: Logger): void => {
      children.add(new WeakRef(child));
      if (children.size >= pruneAt) {
        prune(children);
        pruneAt = Math.max(1024, children.size * 2);
      }
    },
  };
  const logger = destination ? pino(options, destination) : pino(options);
  CHILDREN.set(logger, children);
  return logger;
}

/** Sets the level of `logger` and of every child made from it (a reload: docs/operations.md). */
export function setLogLevel(logger: Logger, level: LogConfig['level']): void {
  logger.level = level;
  const children = CHILDREN.get(logger);
  if (children === undefined) return;
  prune(children);
  for (const ref of children) {
    const child = ref.deref();
    if (child !== undefined) child.level = level;
  }
}

function prune(children: Set<WeakRef<Logger>>): void {
  for (const ref of children) if (ref.deref() === undefined) children.delete(ref);
}

/** What was thrown, as plain strings: safe to log and to put in a reason whatever the value is. */
export interface ThrownDescription {
  readonly type: string;
  readonly message: string;
  readonly stack?: string;
}

/**
 * Describes anything that was thrown without ever throwing itself: a bug may throw a non-Error,
 * an object whose getters throw, or a Proxy, and the per-connection boundary must still log it
 * and answer `internal_error` (docs/protocol.md §3.5) instead of losing the connection or the process.
 */
export function describeThrown(value: unknown): ThrownDescription {
  try {
    if (value instanceof Error) {
      const stack = value.stack;
      return { type: String(value.name), message: String(value.message), ...(typeof stack === 'string' ? { stack } : {}) };
    }
    return { type: typeof value, message: typeof value === 'object' && value !== null ? Object.prototype.toString.call(value) : String(value) };
  } catch {
    return { type: typeof value, message: `an unreadable ${typeof value}` };
  }
}

/** A logger that drops everything: for tests and library use where no logger is given. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
