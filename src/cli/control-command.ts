// `bester reload` and `bester handler restart TYPE`: change a running daemon without restarting it
// (docs/operations.md, "Reloading the configuration"), through its informer (docs/protocol.md §9.4.6-7).
import { EXIT_OK, parseCommandArgs, UsageError, type CliIo } from './bester-main.ts';
import { readCount } from './connect-options.ts';
import { INFORMER_OPTIONS, INFORMER_OPTIONS_HELP, openInformer } from './informer-connect.ts';

const OPTIONS = { ...INFORMER_OPTIONS, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;

/** A reload waits for handlers being replaced to finish their calls (shutdown.graceMs): more than a status query. */
const DEFAULT_TIMEOUT_MS = 60_000;

const RELOAD_HELP = `Usage: bester reload [--informer PATH | --config FILE] [--json]

Makes a running server read its config file again and apply it, as SIGHUP does:
log level, limits, handlers (added, removed, changed), federation peers and TLS
certificates. Connections stay open. A config with errors is refused and the
running one kept; the errors are printed and the exit code is 1.

Options:
${INFORMER_OPTIONS_HELP.replace('(default 5000)', `(default ${DEFAULT_TIMEOUT_MS})`)}
  --json              print the server's answer as one JSON object
  -h, --help          show this help
`;

const HANDLER_HELP = `Usage: bester handler restart TYPE [--informer PATH | --config FILE]

Restarts the process of the handler for message type TYPE now (one the daemon
starts: it has a handlerBinary). Calls in progress on the old process fail as
when it crashes; the next ones go to the new process.

Options:
${INFORMER_OPTIONS_HELP.replace('(default 5000)', `(default ${DEFAULT_TIMEOUT_MS})`)}
  -h, --help          show this help
`;

export async function runReloadCommand(args: readonly string[], io: CliIo): Promise<number> {
  const hint = 'bester reload';
  const { values, positionals } = parseCommandArgs(args, OPTIONS, hint);
  if (values.help === true) {
    io.stdout.write(RELOAD_HELP);
    return EXIT_OK;
  }
  if (positionals.length > 0) throw new UsageError(`reload takes no arguments (got ${JSON.stringify(positionals[0])})`, hint);
  const timeoutMs = readCount(values['timeout-ms'], '--timeout-ms', hint, DEFAULT_TIMEOUT_MS);
  const informer = await openInformer(values, io, hint, timeoutMs);
  try {
    const answer = await informer.reload({ timeoutMs });
    if (values.json === true) {
      io.stdout.write(`${JSON.stringify(answer)}\n`);
      return EXIT_OK;
    }
    io.stdout.write(answer.applied.length === 0 ? 'reloaded: nothing changed\n' : `reloaded: ${answer.applied.join(', ')}\n`);
    if (answer.restartNeeded.length > 0) io.stdout.write(`needs a restart to take effect: ${answer.restartNeeded.join(', ')}\n`);
    return EXIT_OK;
  } finally {
    await informer.close();
  }
}

export async function runHandlerCommand(args: readonly string[], io: CliIo): Promise<number> {
  const hint = 'bester handler';
  const { values, positionals } = parseCommandArgs(args, OPTIONS, hint);
  if (values.help === true) {
    io.stdout.write(HANDLER_HELP);
    return EXIT_OK;
  }
  const [action, type, ...extra] = positionals;
  if (action !== 'restart') throw new UsageError(action === undefined ? 'say what to do: handler restart TYPE' : `unknown action ${JSON.stringify(action)} (known: restart)`, hint);
  if (type === undefined || extra.length > 0) throw new UsageError('handler restart takes exactly one handler type', hint);
  const timeoutMs = readCount(values['timeout-ms'], '--timeout-ms', hint, DEFAULT_TIMEOUT_MS);
  const informer = await openInformer(values, io, hint, timeoutMs);
  try {
    await informer.restartHandler(type, { timeoutMs });
    io.stdout.write(`handler ${type} restarted\n`);
    return EXIT_OK;
  } finally {
    await informer.close();
  }
}
