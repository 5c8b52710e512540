// `bester status`: ask a running server's informer (docs/protocol.md §9) what it is and who is
// online. A summary for people by default; --json prints serverInfo as the server sent it.
import type { HandlerInfo, ServerInfo } from '../sdk/informer.ts';
import { readServerInfo } from '../sdk/server-info.ts';
import { CommandError, EXIT_OK, parseCommandArgs, UsageError, type CliIo } from './bester-main.ts';
import { readCount } from './connect-options.ts';
import { INFORMER_OPTIONS, INFORMER_OPTIONS_HELP, openInformer } from './informer-connect.ts';

const HINT = 'bester status';

const HELP = `Usage: bester status [--informer PATH | --config FILE] [--json]

Asks a running server, through its informer socket, what it is and who is online.

Options:
${INFORMER_OPTIONS_HELP}
  --json              print the server's serverInfo answer as one JSON object
  -h, --help          show this help

Connecting needs permission on the socket file (mode 0600 by default: the user
the daemon runs as).
`;

const OPTIONS = {
  ...INFORMER_OPTIONS,
  json: { type: 'boolean' },
  'timeout-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

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
  const informer = await openInformer(values, io, HINT, timeoutMs);
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
