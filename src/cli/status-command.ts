// `bester status`: ask a running server's informer (docs/protocol.md §9) what it is and who is
// online. A summary for people by default; --json prints serverInfo as the server sent it.
import { resolve } from 'node:path';
import { connectInformer, type HandlerInfo, type InformerClient, type ServerInfo } from '../sdk/informer.ts';
import { isClientError } from '../sdk/errors.ts';
import { readServerInfo } from '../sdk/server-info.ts';
import { CommandError, EXIT_OK, parseCommandArgs, UsageError, type CliIo } from './bester-main.ts';
import { readCount } from './connect-options.ts';

const HINT = 'bester status';

const HELP = `Usage: bester status [--informer PATH | --config FILE] [--json]

Asks a running server, through its informer socket, what it is and who is online.

Options:
  --informer PATH     the informer socket (default: $BESTER_INFORMER_SOCKET)
  --config FILE       the server's config file: its informer.path names the socket
  --json              print the server's serverInfo answer as one JSON object
  --timeout-ms MS     how long to wait for the informer (default 5000)
  -h, --help          show this help

Connecting needs permission on the socket file (mode 0600 by default: the user
the daemon runs as).
`;

const OPTIONS = {
  informer: { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
  'timeout-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function informerPath(values: { informer?: string | undefined; config?: string | undefined }, io: CliIo): Promise<string> {
  if (values.informer !== undefined && values.config !== undefined) throw new UsageError('give --informer or --config, not both', HINT);
  if (values.informer !== undefined) return values.informer;
  if (values.config !== undefined) {
    const { loadConfig } = await import('../server/config/load.ts');
    // Only the informer's path is read here; `bester check-config` is where the config's warnings go.
    const { config } = await loadConfig(values.config);
    if (!config.informer.enabled) throw new CommandError(`the informer is turned off in ${resolve(values.config)} (informer.enabled)`);
    return config.informer.path;
  }
  const fromEnv = io.env['BESTER_INFORMER_SOCKET'];
  if (fromEnv === undefined || fromEnv === '') throw new UsageError('give --informer PATH, --config FILE or BESTER_INFORMER_SOCKET', HINT);
  return fromEnv;
}

function duration(seconds: number): string {
  const parts: string[] = [];
  const units: Array<[string, number]> = [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]];
  let left = Math.floor(seconds);
  for (const [unit, size] of units) {
    if (left >= size || (unit === 's' && parts.length === 0)) {
      parts.push(`${Math.floor(left / size)}${unit}`);
      left %= size;
    }
  }
  return parts.join(' ');
}

function protocolText(h: HandlerInfo): string | null {
  switch (h.protocol) {
    case 'original':
      return 'original protocol';
    case 'multiplex':
      return h.connections === undefined ? 'multiplex/1' : `multiplex/1 over ${h.connections} connection${h.connections === 1 ? '' : 's'}`;
    case 'unknown':
      return 'protocol not negotiated yet';
    default:
      return null;
  }
}

/** The summary for people; lines for fields an older daemon does not send are left out. */
export function formatStatus(info: ServerInfo, users: readonly string[]): string {
  const lines: string[] = [];
  const row = (label: string, values: readonly string[]): void => {
    values.forEach((value, i) => lines.push(`${(i === 0 ? `${label}:` : '').padEnd(12)}${value}`));
  };
  const version = info.version !== undefined ? `bester ${info.version}` : 'bester (version not reported)';
  const uptime = info.uptimeSeconds !== undefined ? `, up ${duration(info.uptimeSeconds)}` : '';
  const since = info.startedAt !== undefined ? ` (since ${info.startedAt})` : '';
  row('server', [`${version}${uptime}${since}`]);
  const connections = info.connections ?? Number(info.clientCount);
  const names = users.length > 0 ? `: ${[...users].sort().join(', ')}` : '';
  row('clients', [`${connections} connection${connections === 1 ? '' : 's'}, ${users.length} user${users.length === 1 ? '' : 's'} online${names}`]);
  const listeners = Object.values(info.listeners).map((l) => l.address);
  row('listeners', listeners.length > 0 ? listeners : ['none']);
  if (info.handlers !== undefined) {
    const width = Math.max(0, ...info.handlers.map((h) => h.type.length));
    row(
      'handlers',
      info.handlers.length === 0
        ? ['none']
        : info.handlers.map((h) => {
            const pid = h.pid !== null ? `pid ${h.pid}` : 'no process';
            const how = h.managed ? `${pid}, restarts ${h.restarts}` : 'run by someone else';
            const protocol = protocolText(h);
            return `${h.type.padEnd(width)}  ${h.state.padEnd(8)}  ${how}${protocol !== null ? `, ${protocol}` : ''}`;
          }),
    );
  }
  if (info.informer !== undefined) row('informer', [info.informer]);
  if (info.adminInfo !== null && info.adminInfo !== undefined) row('admin', [JSON.stringify(info.adminInfo)]);
  return `${lines.join('\n')}\n`;
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

/**
 * serverInfo as printed by --json, with its counts as numbers: the wire keeps the original's string
 * clientCount (docs/protocol.md §9.4.3), but JSON output is for programs, which want to compare it.
 */
function numericCounts(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const count = (raw as Record<string, unknown>)['clientCount'];
  if (typeof count !== 'string' || !/^[0-9]+$/.test(count)) return raw;
  return { ...raw, clientCount: Number(count) };
}

export async function runStatusCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, HINT);
  if (values.help === true) {
    io.stdout.write(HELP);
    return EXIT_OK;
  }
  if (positionals.length > 0) throw new UsageError(`status takes no arguments (got ${JSON.stringify(positionals[0])})`, HINT);
  const timeoutMs = readCount(values['timeout-ms'], '--timeout-ms', HINT, 5000);
  const path = await informerPath(values, io);
  const informer: InformerClient = await connectInformer(path, { timeoutMs, connectTimeoutMs: timeoutMs }).catch((err: unknown) => {
    throw notRunningHint(err, path) ?? err;
  });
  try {
    const raw = await informer.request('serverInfo');
    if (values.json === true) {
      io.stdout.write(`${JSON.stringify(numericCounts(raw))}\n`);
      return EXIT_OK;
    }
    const info = readServerInfo(raw);
    if (info === null) throw new CommandError(`the informer at ${informer.path} sent a serverInfo answer of the wrong shape`);
    io.stdout.write(formatStatus(info, await informer.listClients()));
    return EXIT_OK;
  } finally {
    await informer.close();
  }
}
