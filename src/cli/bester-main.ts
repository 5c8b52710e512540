// `bester`, the command line for people: the dispatcher. Importable without side effects (tests call
// `main` directly); bester.ts is the process entry. Exit codes: 0 ok, 1 failure, 2 usage error.

import type { Readable, Writable } from 'node:stream';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { isBesterError } from '../protocol/errors.ts';
import { isClientError } from '../sdk/errors.ts';

export interface CliIo {
  readonly stdin: Readable & { readonly isTTY?: boolean; setRawMode?(mode: boolean): unknown };
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A mistake in how the command was called: the message is printed with a hint, and the exit code is 2. */
export class UsageError extends Error {
  readonly hint: string;

  constructor(message: string, hint: string) {
    super(message);
    this.name = 'UsageError';
    this.hint = hint;
  }
}

/** An expected failure of a command (nothing to wait for, a cancelled prompt): one line, exit 1. */
export class CommandError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CommandError';
  }
}

const HELP = `Usage: bester <command> [options]

Commands:
  send TYPE [DATA]              send one message to a server and print its status report
  listen                        print the messages delivered to a user, one JSON line each
  status                        ask a running server's informer who is online and what it runs
  reload                        make a running server read its config file again (as SIGHUP)
  handler restart TYPE          restart one handler's process now
  user add|remove|passwd|list   manage the accounts clients log in with
  check-config FILE             check a server config file and show any problems

Options:
  -h, --help                    show this help
  -v, --version                 show the version

Run 'bester <command> --help' for the options of a command.
`;

/**
 * Turns an error from a command into its message and exit code. Expected errors (usage mistakes,
 * BesterError and its subclasses such as ConfigError, the SDK's ClientError such as a refused login
 * or an unreachable server, CommandError) print one line; anything else is a bug and keeps its stack.
 */
export function reportError(err: unknown, io: CliIo): number {
  if (err instanceof UsageError) {
    io.stderr.write(`bester: ${err.message}\nTry '${err.hint} --help'.\n`);
    return EXIT_USAGE;
  }
  if (isBesterError(err) || isClientError(err) || err instanceof CommandError) {
    io.stderr.write(`bester: ${err.message}\n`);
    return EXIT_FAILURE;
  }
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  io.stderr.write(`bester: unexpected error: ${detail}\n`);
  return EXIT_FAILURE;
}

/** `parseArgs` in strict mode, with its errors turned into UsageError (exit 2) naming `command`. */
export function parseCommandArgs<T extends ParseArgsOptionsConfig>(args: readonly string[], options: T, command: string) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) {
      throw new UsageError((err as Error).message, command);
    }
    throw err;
  }
}

const CHECK_CONFIG_HELP = `Usage: bester check-config FILE

Loads a server config file and reports whether the daemon could start with it.
`;

async function checkConfig(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, { help: { type: 'boolean', short: 'h' } }, 'bester check-config');
  if (values.help === true) {
    io.stdout.write(CHECK_CONFIG_HELP);
    return EXIT_OK;
  }
  const [path, ...extra] = positionals;
  if (path === undefined || extra.length > 0) {
    throw new UsageError('check-config takes exactly one config file', 'bester check-config');
  }
  const { runCheckConfig } = await import('./check-config.ts');
  return runCheckConfig(path, { stdout: io.stdout, stderr: io.stderr });
}

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case '-h':
      case '--help':
      case 'help':
        io.stdout.write(HELP);
        return EXIT_OK;
      case undefined:
        io.stderr.write(HELP);
        return EXIT_USAGE;
      case '-v':
      case '--version': {
        const { packageVersion } = await import('./package-version.ts');
        io.stdout.write(`bester ${await packageVersion()}\n`);
        return EXIT_OK;
      }
      case 'user': {
        const { runUserCommand } = await import('./user-command.ts');
        return await runUserCommand(rest, io);
      }
      case 'check-config':
        return await checkConfig(rest, io);
      case 'send': {
        const { runSendCommand } = await import('./send-command.ts');
        return await runSendCommand(rest, io);
      }
      case 'listen': {
        const { runListenCommand } = await import('./listen-command.ts');
        return await runListenCommand(rest, io);
      }
      case 'reload': {
        const { runReloadCommand } = await import('./control-command.ts');
        return await runReloadCommand(rest, io);
      }
      case 'handler': {
        const { runHandlerCommand } = await import('./control-command.ts');
        return await runHandlerCommand(rest, io);
      }
      case 'status': {
        const { runStatusCommand } = await import('./status-command.ts');
        return await runStatusCommand(rest, io);
      }
      default:
        throw new UsageError(
          command.startsWith('-') ? `unknown option ${JSON.stringify(command)}` : `unknown command ${JSON.stringify(command)}`,
          'bester');
    }
  } catch (err) {
    return reportError(err, io);
  }
}
