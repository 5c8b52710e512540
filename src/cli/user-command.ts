// `bester user add|remove|passwd|list`: manage accounts in the store a config names (or a SQLite file
// given with --db). Safe while the daemon runs: the SQLite store is shared through WAL.
// Passwords never come from the command line (they would show in `ps` and shell history).

import { printableUsername } from '../protocol/username.ts';
import { resolve } from 'node:path';
import { BesterError } from '../protocol/errors.ts';
import {
  checkUsername,
  normalizeUsername,
  openAccountStore,
  type AccountStore,
} from '../server/accounts/account-store.ts';
import type { AccountsConfig } from '../server/config/types.ts';
import { EXIT_OK, EXIT_USAGE, parseCommandArgs, UsageError, type CliIo } from './bester-main.ts';
import { canPrompt, promptHidden, readStdinPassword, stdinIsTerminal, terminalRefusal } from './password-input.ts';

const STORE_OPTIONS = `  --config FILE       the server config file; its accounts section names the store
  --db PATH           use this SQLite account file instead of --config
  -h, --help          show this help`;

const PASSWORD_NOTE = `The password is never taken from the command line. It comes from, in order:
  --password-stdin    all of stdin, without one trailing newline (at a terminal: the
                      prompt below, as typing there would echo)
  BESTER_PASSWORD     this environment variable, when it is set
  a prompt            asked twice without echo, when stdin is a terminal
  stdin               otherwise (piped input)`;

const USER_HELP = `Usage: bester user <subcommand> NAME [options]

Subcommands:
  add NAME            create an account
  remove NAME         delete an account
  passwd NAME         set a new password for an account
  list                print every username, one per line

Each takes --config FILE or --db PATH. Run 'bester user <subcommand> --help' for details.
`;

const SUBCOMMAND_HELP: ReadonlyMap<string, string> = new Map(Object.entries({
  add: `Usage: bester user add NAME (--config FILE | --db PATH) [--password-stdin]

Creates the account NAME (leading and trailing spaces are dropped; at most 64
characters, no control characters). Fails if it already exists.

${STORE_OPTIONS}
  --password-stdin    read the password from stdin

${PASSWORD_NOTE}
`,
  remove: `Usage: bester user remove NAME (--config FILE | --db PATH)

Deletes the account NAME. Fails if there is no such account.

${STORE_OPTIONS}
`,
  passwd: `Usage: bester user passwd NAME (--config FILE | --db PATH) [--password-stdin]

Sets a new password for the account NAME. Fails if there is no such account.

${STORE_OPTIONS}
  --password-stdin    read the password from stdin

${PASSWORD_NOTE}
`,
  list: `Usage: bester user list (--config FILE | --db PATH)

Prints every username, sorted, one per line.

${STORE_OPTIONS}
`,
}));

const OPTIONS = {
  config: { type: 'string' },
  db: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Invocation {
  readonly subcommand: string;
  readonly name: string | null;
  readonly store: { readonly config: string } | { readonly db: string };
  readonly passwordStdin: boolean;
}

function parseInvocation(subcommand: string, args: readonly string[]): Invocation | 'help' {
  const hint = `bester user ${subcommand}`;
  const { values, positionals } = parseCommandArgs(args, OPTIONS, hint);
  if (values.help === true) return 'help';
  const takesName = subcommand !== 'list';
  if (positionals.length !== (takesName ? 1 : 0)) {
    throw new UsageError(takesName ? `${subcommand} takes exactly one username` : 'list takes no arguments', hint);
  }
  const takesPassword = subcommand === 'add' || subcommand === 'passwd';
  if (values['password-stdin'] === true && !takesPassword) {
    throw new UsageError(`${subcommand} does not take --password-stdin`, hint);
  }
  const { config, db } = values;
  if (config !== undefined && db !== undefined) throw new UsageError('give --config or --db, not both', hint);
  if (config === undefined && db === undefined) throw new UsageError('give --config FILE or --db PATH', hint);
  return {
    subcommand,
    name: positionals[0] ?? null,
    store: config !== undefined ? { config } : { db: db ?? '' },
    passwordStdin: values['password-stdin'] === true,
  };
}

/** The new password, from the first source that applies (see PASSWORD_NOTE); never empty. */
async function readNewPassword(io: CliIo, fromStdin: boolean): Promise<string> {
  let password: string;
  const fromEnv = io.env['BESTER_PASSWORD'];
  if (fromStdin && stdinIsTerminal(io) && !canPrompt(io)) {
    throw terminalRefusal();
  } else if (fromStdin && !stdinIsTerminal(io)) {
    password = await readStdinPassword(io);
  } else if (fromEnv !== undefined && !fromStdin) {
    password = fromEnv;
  } else if (canPrompt(io)) {
    // Also --password-stdin at a terminal: typed there, the password would be echoed.
    const [first, second] = await promptHidden(io, ['Password: ', 'Again: ']);
    if (first !== second) throw new BesterError('store_error', 'the passwords do not match');
    password = first ?? '';
  } else {
    password = await readStdinPassword(io);
  }
  if (password.length === 0) throw new BesterError('store_error', 'the password is empty');
  return password;
}

async function accountsConfig(store: Invocation['store'], io: CliIo): Promise<AccountsConfig> {
  if ('db' in store) return { kind: 'sqlite', path: resolve(store.db) };
  const { loadConfig } = await import('../server/config/load.ts');
  const { config, warnings } = await loadConfig(store.config);
  for (const warning of warnings) io.stderr.write(`bester: warning: ${warning}\n`);
  return config.accounts;
}

/** The normalized username, or a store_error (exit 1) naming what is wrong with it. */
function validName(raw: string): string {
  const name = normalizeUsername(raw);
  const reason = checkUsername(name);
  if (reason !== null) throw new BesterError('store_error', `invalid username ${JSON.stringify(name)}: ${reason}`);
  return name;
}

function noSuchUser(name: string): BesterError {
  return new BesterError('store_error', `no such user ${JSON.stringify(name)}`);
}

async function run(inv: Invocation, store: AccountStore, io: CliIo): Promise<void> {
  if (inv.subcommand === 'list') {
    const names = await store.list();
    // docs/protocol.md §2.6: shown so that no name can hide characters from the reader.
    io.stdout.write(names.map((n) => `${printableUsername(n)}\n`).join(''));
    for (const name of names.filter((n) => normalizeUsername(n) !== n)) {
      io.stderr.write(`bester: warning: ${JSON.stringify(name)} is not in the username profile's form and logs in no one (docs/protocol.md §2.6)\n`);
    }
    return;
  }
  const name = validName(inv.name ?? '');
  const label = JSON.stringify(name);
  switch (inv.subcommand) {
    case 'add': {
      // Checked before asking for the password, so nobody types one for nothing; add() still decides.
      if (await store.has(name)) throw new BesterError('store_error', `user ${label} already exists`);
      await store.add(name, await readNewPassword(io, inv.passwordStdin));
      io.stdout.write(`user ${label} added\n`);
      return;
    }
    case 'passwd': {
      if (!(await store.has(name))) throw noSuchUser(name);
      if (!(await store.setPassword(name, await readNewPassword(io, inv.passwordStdin)))) throw noSuchUser(name);
      io.stdout.write(`password of user ${label} changed\n`);
      return;
    }
    case 'remove': {
      if (!(await store.remove(name))) throw noSuchUser(name);
      io.stdout.write(`user ${label} removed\n`);
      return;
    }
  }
}

/** `bester user ...` with `args` after "user". Returns the exit code; expected errors are thrown for main to report. */
export async function runUserCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [subcommand, ...rest] = args;
  if (subcommand === '-h' || subcommand === '--help' || subcommand === 'help') {
    io.stdout.write(USER_HELP);
    return EXIT_OK;
  }
  if (subcommand === undefined) {
    io.stderr.write(USER_HELP);
    return EXIT_USAGE;
  }
  const help = SUBCOMMAND_HELP.get(subcommand);
  if (help === undefined) throw new UsageError(`unknown user subcommand ${JSON.stringify(subcommand)}`, 'bester user');
  const inv = parseInvocation(subcommand, rest);
  if (inv === 'help') {
    io.stdout.write(help);
    return EXIT_OK;
  }
  const store = await openAccountStore(await accountsConfig(inv.store, io));
  try {
    await run(inv, store, io);
  } finally {
    await store.close();
  }
  return EXIT_OK;
}
