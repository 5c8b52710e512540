// How `bester status`, `bester reload` and `bester handler` find and reach a running daemon: its
// informer socket (docs/protocol.md §9), named by --informer, by --config or by the environment.
import { resolve } from 'node:path';
import { connectInformer, type InformerClient } from '../sdk/informer.ts';
import { isClientError } from '../sdk/errors.ts';
import { CommandError, UsageError, type CliIo } from './bester-main.ts';

export const INFORMER_OPTIONS = {
  informer: { type: 'string' },
  config: { type: 'string' },
  'timeout-ms': { type: 'string' },
} as const;

export const INFORMER_OPTIONS_HELP = `  --informer PATH     the informer socket (default: $BESTER_INFORMER_SOCKET)
  --config FILE       the server's config file: its informer.path names the socket
  --timeout-ms MS     how long to wait for the informer (default 5000)`;

/** Connects to the informer the options name; a daemon that is not running is said so, with how to start it. */
export async function openInformer(
  values: { informer?: string | undefined; config?: string | undefined },
  io: CliIo,
  hint: string,
  timeoutMs: number,
): Promise<InformerClient> {
  const path = await informerPath(values, io, hint);
  return connectInformer(path, { timeoutMs, connectTimeoutMs: timeoutMs }).catch((err: unknown) => {
    throw notRunningHint(err, path) ?? err;
  });
}

async function informerPath(values: { informer?: string | undefined; config?: string | undefined }, io: CliIo, hint: string): Promise<string> {
  if (values.informer !== undefined && values.config !== undefined) throw new UsageError('give --informer or --config, not both', hint);
  if (values.informer !== undefined) return values.informer;
  if (values.config !== undefined) {
    const { loadConfig } = await import('../server/config/load.ts');
    // Only the informer's path is read here; `bester check-config` is where the config's warnings go.
    const { config } = await loadConfig(values.config);
    if (!config.informer.enabled) throw new CommandError(`the informer is turned off in ${resolve(values.config)} (informer.enabled)`);
    return config.informer.path;
  }
  const fromEnv = io.env['BESTER_INFORMER_SOCKET'];
  if (fromEnv === undefined || fromEnv === '') throw new UsageError('give --informer PATH, --config FILE or BESTER_INFORMER_SOCKET', hint);
  return fromEnv;
}

/**
 * No socket file, or one nobody listens on: the daemon is not running (or uses another path).
 * Says so with how to start it, instead of only "no such socket file".
 */
function notRunningHint(err: unknown, path: string): CommandError | null {
  const code = isClientError(err) && err.code === 'connect_failed' ? (err.cause as NodeJS.ErrnoException | undefined)?.code : undefined;
  if (code !== 'ENOENT' && code !== 'ECONNREFUSED') return null;
  const why = code === 'ENOENT' ? 'there is no socket file' : 'nothing listens on the socket file';
  return new CommandError(
    `the daemon is not running at ${resolve(path)} (${why}); start it with 'besterd CONFIG' ` +
      `(this is the informer.path of that config), or give the right one with --config FILE or --informer PATH`,
    { cause: err },
  );
}
