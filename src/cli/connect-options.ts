// What `bester send` and `bester listen` need to log in: --server, --user and the password.
// The password never comes from the command line (it would show in `ps` and shell history).
// Over TLS (--server tls://HOST:PORT) the server's certificate is always checked: against the
// system's CAs, or the ones in --ca FILE. There is no option to turn that off.
import { readFile } from 'node:fs/promises';
import { parseServerAddress, type ServerAddress } from '../sdk/address.ts';
import { isClientError } from '../sdk/errors.ts';
import { CommandError, UsageError, type CliIo } from './bester-main.ts';
import { canPrompt, promptHidden, readStdinPassword, stdinIsTerminal, terminalRefusal } from './password-input.ts';

export const CONNECT_OPTIONS = {
  server: { type: 'string' },
  ca: { type: 'string' },
  user: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  'timeout-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const CONNECT_HELP = `  --server ADDR       the server: HOST:PORT, [IPv6]:PORT, unix:PATH, tls://HOST:PORT
                      or ws://HOST:PORT/PATH (wss://: WebSocket over TLS)
                      (default: $BESTER_SERVER)
  --ca FILE           tls:// only: the PEM file of the CAs that sign the server's certificate
                      (default: $BESTER_CA, else the system's CAs)
  --user NAME         log in as NAME (default: $BESTER_USER)
  --password-stdin    read the password from stdin (all of it, without one trailing newline);
                      when stdin is a terminal, ask for it without echo
  -h, --help          show this help

The password is never taken from the command line. It comes from --password-stdin,
else the environment variable BESTER_PASSWORD, else a prompt (no echo) when stdin
is a terminal.`;

export interface ConnectValues {
  readonly server?: string | undefined;
  readonly ca?: string | undefined;
  readonly user?: string | undefined;
  readonly 'password-stdin'?: boolean | undefined;
}

export interface ConnectSettings {
  readonly server: ServerAddress;
  readonly username: string;
  readonly password: string;
  /** PEM text read from --ca FILE. */
  readonly ca?: string;
}

/** The server address and username from the options or the environment; usage errors say what is missing. */
export function serverAndUser(values: ConnectValues, io: CliIo, hint: string): { server: ServerAddress; username: string } {
  const serverText = values.server ?? io.env['BESTER_SERVER'];
  if (serverText === undefined || serverText === '') throw new UsageError('give the server with --server ADDR or BESTER_SERVER', hint);
  let server: ServerAddress;
  try {
    server = parseServerAddress(serverText);
  } catch (err) {
    if (isClientError(err)) throw new UsageError(err.message, hint);
    throw err;
  }
  const username = values.user ?? io.env['BESTER_USER'];
  if (username === undefined || username.trim() === '') throw new UsageError('give the user with --user NAME or BESTER_USER', hint);
  return { server, username };
}

/** The password from the first source that applies (see CONNECT_HELP). */
export async function loginPassword(values: ConnectValues, io: CliIo, hint: string): Promise<string> {
  let password: string;
  const fromEnv = io.env['BESTER_PASSWORD'];
  const fromStdin = values['password-stdin'] === true;
  if (fromStdin && stdinIsTerminal(io) && !canPrompt(io)) throw terminalRefusal();
  // --password-stdin at a terminal: typed there, the password would be echoed; prompt without echo.
  if (fromStdin && stdinIsTerminal(io)) password = (await promptHidden(io, ['Password: ']))[0] ?? '';
  else if (fromStdin) password = await readStdinPassword(io);
  else if (fromEnv !== undefined) password = fromEnv;
  else if (canPrompt(io)) password = (await promptHidden(io, ['Password: ']))[0] ?? '';
  else throw new UsageError('no password: use --password-stdin or BESTER_PASSWORD (stdin is not a terminal to ask on)', hint);
  if (password === '') throw new CommandError('the password is empty');
  return password;
}

export async function connectSettings(values: ConnectValues, io: CliIo, hint: string): Promise<ConnectSettings> {
  const { server, username } = serverAndUser(values, io, hint);
  const ca = await readCa(values, io, server, hint);
  return { server, username, password: await loginPassword(values, io, hint), ...(ca === undefined ? {} : { ca }) };
}

/** The PEM text of --ca FILE (or $BESTER_CA), checked before the password is asked for. */
async function readCa(values: ConnectValues, io: CliIo, server: ServerAddress, hint: string): Promise<string | undefined> {
  const fromOption = values.ca !== undefined;
  const file = values.ca ?? io.env['BESTER_CA'];
  if (file === undefined || file === '') return undefined;
  if (!('tls' in server && server.tls === true)) {
    // $BESTER_CA set for other servers does not stop a plain connection; --ca on one is a mistake.
    if (fromOption) throw new UsageError('--ca is for TLS servers: write the server as tls://HOST:PORT', hint);
    return undefined;
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CommandError(`cannot read the CA file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new CommandError(`the CA file ${file} holds no PEM certificate`);
  return text;
}

/** A whole number of at least `min` from an option, or a usage error naming the option. */
export function readCount(text: string | undefined, option: string, hint: string, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  if (!/^[0-9]+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`${option} must be a whole number of at least ${min}, not ${JSON.stringify(text)}`, hint);
  }
  return Number(text);
}
