// `bester send TYPE [DATA]`: log in, send one message, print its status report as one JSON line
// (docs/sdk.md). Exit 0 when the report is good, 1 when it is bad or anything failed, 2 on usage errors.
import { connect, type BesterClient, type Delivery, type StatusReport } from '../sdk/client.ts';
import { CommandError, EXIT_FAILURE, EXIT_OK, parseCommandArgs, UsageError, type CliIo } from './bester-main.ts';
import { CONNECT_HELP, CONNECT_OPTIONS, connectSettings, readCount } from './connect-options.ts';

const HINT = 'bester send';
const MAX_STDIN_DATA = 16 * 1024 * 1024;

const HELP = `Usage: bester send [options] TYPE [DATA]

Logs in, sends one message of type TYPE and prints its status report as one JSON
line: {"id":"...","status":"good"}, with every field of the report the server sent:
"code", "reason" and "undelivered" when it is bad, "stored" (kept for users who are
offline), "servers" (for sendServers: "delivered" or "queued" per server). DATA is JSON text (default: null).

Options:
  --text STR          send the string STR as the data (no JSON quoting needed)
  --data-stdin        read the data, as JSON text, from stdin
  --id ID             the message id (default: a generated one)
  --wait-delivery N   after a good report, also wait for N deliveries to this user
                      (e.g. an echo) and print each as a JSON line {"type":...,"data":...}
  --timeout-ms MS     how long to wait, once logged in, for the report and the deliveries
                      (default 10000; the login has 10 s of its own)
${CONNECT_HELP}

Exit status: 0 when the report is good, 1 when it is bad (the reason goes to stderr)
or the server cannot be reached, 2 on a usage error.

Example:
  echo "$PW" | bester send --server 127.0.0.1:2220 --user alice --password-stdin chat '{"to":"bob","text":"hi"}'
`;

const OPTIONS = {
  ...CONNECT_OPTIONS,
  text: { type: 'string' },
  'data-stdin': { type: 'boolean' },
  id: { type: 'string' },
  'wait-delivery': { type: 'string' },
} as const;

async function readStdinText(io: CliIo): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of io.stdin) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += bytes.length;
    if (size > MAX_STDIN_DATA) throw new CommandError(`the data on stdin is over ${MAX_STDIN_DATA} bytes`);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseData(text: string, where: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UsageError(`${where} is not valid JSON (${(err as Error).message}); use --text for a plain string`, HINT);
  }
}

/**
 * The whole report as one JSON object: its id, then every header field the server sent (status,
 * code, reason, undelivered, stored, servers: docs/protocol.md §3.3, §4.3), without the frame's
 * `messageType`. Fields this SDK does not know yet are printed too.
 */
export function reportLine(report: StatusReport): string {
  const { raw, ...fields } = report;
  const header = raw['header'];
  const sent = typeof header === 'object' && header !== null && !Array.isArray(header) ? header : {};
  // The SDK's reading wins where it has one (an original server's status "0" is "good").
  const { messageType: _messageType, ...rest } = sent as Record<string, unknown>;
  const ordered: Record<string, unknown> = { id: fields.id, status: fields.status };
  return `${JSON.stringify(Object.assign(ordered, rest, fields))}\n`;
}

export function deliveryLine(delivery: Delivery): string {
  return `${JSON.stringify({ type: delivery.type, data: delivery.data })}\n`;
}

/** Up to `count` deliveries from `iterator`, within the deadline; the ones that came, and whether all did. */
async function collect(iterator: AsyncIterator<Delivery>, count: number, deadline: number): Promise<Delivery[]> {
  const got: Delivery[] = [];
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
  });
  try {
    while (got.length < count) {
      const next = await Promise.race([iterator.next(), timedOut]);
      if (next === 'timeout' || next.done === true) break;
      got.push(next.value);
    }
  } finally {
    clearTimeout(timer);
  }
  return got;
}

export async function runSendCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, HINT);
  if (values.help === true) {
    io.stdout.write(HELP);
    return EXIT_OK;
  }
  const [type, dataText, ...extra] = positionals;
  if (type === undefined || type === '') throw new UsageError('give the message TYPE', HINT);
  if (extra.length > 0) throw new UsageError('too many arguments: put DATA in quotes, as one JSON argument', HINT);
  const sources = [dataText !== undefined, values.text !== undefined, values['data-stdin'] === true].filter(Boolean).length;
  if (sources > 1) throw new UsageError('give the data one way: DATA, --text or --data-stdin', HINT);
  if (values['data-stdin'] === true && values['password-stdin'] === true) {
    throw new UsageError('--data-stdin and --password-stdin cannot both read stdin; put the password in BESTER_PASSWORD', HINT);
  }
  const timeoutMs = readCount(values['timeout-ms'], '--timeout-ms', HINT, 10_000);
  const waitFor = readCount(values['wait-delivery'], '--wait-delivery', HINT, 0, 0);
  let data: unknown = null;
  if (dataText !== undefined) data = parseData(dataText, 'DATA');
  else if (values.text !== undefined) data = values.text;

  const settings = await connectSettings(values, io, HINT);
  if (values['data-stdin'] === true) data = parseData(await readStdinText(io), 'the data on stdin');
  const client: BesterClient = await connect({ ...settings, sendTimeoutMs: timeoutMs });
  const deadline = Date.now() + timeoutMs;
  try {
    // Listening starts before the send, so an echo that comes back before the report is not missed.
    const deliveries = waitFor > 0 ? client.deliveries() : null;
    const report = await client.send(type, data, {
      ...(values.id !== undefined ? { id: values.id } : {}),
      timeoutMs: Math.max(1, deadline - Date.now()),
    });
    io.stdout.write(reportLine(report));
    if (report.status === 'bad') {
      const undelivered = report.undelivered !== undefined ? ` (not delivered to: ${report.undelivered.join(', ')})` : '';
      io.stderr.write(`bester: ${report.reason ?? 'the server reported "bad"'}${report.code !== undefined ? ` [${report.code}]` : ''}${undelivered}\n`);
      return EXIT_FAILURE;
    }
    if (deliveries === null) return EXIT_OK;
    const got = await collect(deliveries, waitFor, deadline);
    for (const delivery of got) io.stdout.write(deliveryLine(delivery));
    await deliveries.return?.();
    if (got.length < waitFor) {
      const ended = client.connected ? `within ${timeoutMs} ms` : 'before the connection closed';
      throw new CommandError(`got ${got.length} of ${waitFor} deliveries ${ended}`);
    }
    return EXIT_OK;
  } finally {
    await client.close();
  }
}
