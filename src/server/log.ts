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

export function createLogger(config: LogConfig, destination?: DestinationStream): Logger {
  const options = {
    level: config.level,
    base: { name: 'besterd' },
    redact: { paths: REDACT, censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A logger that drops everything: for tests and library use where no logger is given. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
