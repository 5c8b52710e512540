// `bester listen`: log in and print every delivery as one JSON line {"type":...,"data":...}, for
// piping into jq (docs/sdk.md). Ends after --count deliveries, --timeout-ms, SIGINT/SIGTERM (exit 0),
// or when the connection drops (exit 1, unless --reconnect).
import { connect, type BesterClient } from '../sdk/client.ts';
import { formatServerAddress } from '../sdk/address.ts';
import { CommandError, EXIT_OK, parseCommandArgs, UsageError, type CliIo } from './bester-main.ts';
import { CONNECT_HELP, CONNECT_OPTIONS, connectSettings, readCount } from './connect-options.ts';
import { deliveryLine } from './send-command.ts';

const HINT = 'bester listen';

const HELP = `Usage: bester listen [options]

Logs in and prints each message delivered to the user as one JSON line,
{"type":"...","data":...}, until stopped (Ctrl-C, SIGTERM).

Options:
  --type T            print only deliveries of type T (may be given several times)
  --count N           exit after N deliveries
  --timeout-ms MS     exit after MS milliseconds (status 1 if --count was not reached)
  --reconnect         when the connection drops, reconnect instead of exiting with status 1
                      (deliveries while disconnected are not seen)
  --quiet             no "listening" note on stderr
${CONNECT_HELP}

Example:
  bester listen --server 127.0.0.1:2220 --user bob | jq -r .data.text
`;

const OPTIONS = {
  ...CONNECT_OPTIONS,
  type: { type: 'string', multiple: true },
  count: { type: 'string' },
  reconnect: { type: 'boolean' },
  quiet: { type: 'boolean' },
} as const;

type StopReason = 'signal' | 'timeout' | 'output-closed';

export async function runListenCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, HINT);
  if (values.help === true) {
    io.stdout.write(HELP);
    return EXIT_OK;
  }
  if (positionals.length > 0) throw new UsageError(`listen takes no arguments (got ${JSON.stringify(positionals[0])})`, HINT);
  const count = readCount(values.count, '--count', HINT, Infinity);
  const listenMs = values['timeout-ms'] === undefined ? null : readCount(values['timeout-ms'], '--timeout-ms', HINT, 0);
  const types = values.type !== undefined ? new Set(values.type) : null;
  const settings = await connectSettings(values, io, HINT);
  const client: BesterClient = await connect({ ...settings, reconnect: values.reconnect === true });
  const note = (text: string): void => {
    if (values.quiet !== true) io.stderr.write(`bester: ${text}\n`);
  };
  client.on('disconnect', (err) => note(`${err.message}; reconnecting`));
  client.on('reconnect', () => note(`reconnected to ${formatServerAddress(client.address)}`));

  const deliveries = client.deliveries();
  let stopped: StopReason | null = null;
  const stop = (reason: StopReason): void => {
    stopped ??= reason;
    void deliveries.return?.();
  };
  const onSignal = (): void => stop('signal');
  const onOutputError = (): void => stop('output-closed'); // e.g. EPIPE: `bester listen | head -1`
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  io.stdout.on('error', onOutputError);
  const timer = listenMs !== null ? setTimeout(() => stop('timeout'), listenMs) : null;
  let printed = 0;
  try {
    note(`listening as ${client.username} on ${formatServerAddress(client.address)}`);
    for await (const delivery of deliveries) {
      if (types !== null && !types.has(delivery.type)) continue;
      printed += 1;
      if (!io.stdout.write(deliveryLine(delivery))) await drained(io, () => stopped !== null);
      if (printed >= count) break;
    }
  } finally {
    if (timer !== null) clearTimeout(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    io.stdout.off('error', onOutputError);
    await client.close();
  }
  if (printed >= count || stopped === 'signal' || stopped === 'output-closed') return EXIT_OK;
  if (stopped === 'timeout') {
    if (count === Infinity) return EXIT_OK;
    throw new CommandError(`got ${printed} of ${count} deliveries within ${listenMs} ms`);
  }
  // The iterator ended by itself: the connection is gone (and was not brought back).
  const err = await client.closed;
  throw new CommandError(err !== null ? err.message : 'the connection closed');
}

/** Waits for stdout to drain (backpressure from a slow reader such as jq), or for a stop. */
function drained(io: CliIo, isStopped: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = setInterval(() => {
      if (isStopped()) done();
    }, 100);
    const done = (): void => {
      clearInterval(check);
      io.stdout.off('drain', done);
      resolve();
    };
    io.stdout.once('drain', done);
  });
}
