import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { main, type CliIo } from '../../src/cli/bester-main.ts';
import { openAccountStore } from '../../src/server/accounts/account-store.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const BESTER = join(ROOT, 'src/cli/bester.ts');
const CONFIG = { network: { types: ['tcp4'], tcp4: { port: '0', address: '127.0.0.1' } } };

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Every password used below; none may ever show up in any output. */
const PASSWORDS = ['first-Secret-1', 'second-Secret-2', 'env-Secret-3', 'piped-Secret-4', 'db-Secret-5', 'tty-Secret-6'];
const outputs: string[] = [];

let dir: string;
let config: string;
let db: string;

function runBester(args: readonly string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<Result> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  if (options.env?.['BESTER_PASSWORD'] === undefined) delete env['BESTER_PASSWORD'];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BESTER, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.stdin.on('error', () => {}); // the command may exit before reading stdin
    child.on('error', reject);
    child.on('close', (code) => {
      outputs.push(stdout, stderr);
      resolvePromise({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

async function verify(path: string, username: string, password: string): Promise<boolean> {
  const store = await openAccountStore({ kind: 'sqlite', path });
  try {
    return await store.verify(username, password);
  } finally {
    await store.close();
  }
}

function assertOneLineError(result: Result, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, result.stderr);
  assert.match(result.stderr, /^bester: /);
  assert.match(result.stderr, pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bester-cli-'));
  config = join(dir, 'server.conf');
  db = join(dir, 'bester.db');
  await writeFile(config, JSON.stringify(CONFIG));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('bester user (spawned)', () => {
  it('adds a user with --password-stdin, without the trailing newline', async () => {
    const result = await runBester(['user', 'add', 'alice', '--config', config, '--password-stdin'], {
      input: `${PASSWORDS[0]}\n`,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'user "alice" added\n');
    assert.equal(await verify(db, 'alice', PASSWORDS[0] ?? ''), true);
    assert.equal(await verify(db, 'alice', `${PASSWORDS[0]}\n`), false);
  });

  it('refuses to add an existing user', async () => {
    const result = await runBester(['user', 'add', ' alice ', '--config', config, '--password-stdin'], { input: 'x' });
    assertOneLineError(result, 1, /^bester: user "alice" already exists\n$/);
    assert.equal(await verify(db, 'alice', PASSWORDS[0] ?? ''), true);
  });

  it('lists users, sorted, one per line', async () => {
    const add = await runBester(['user', 'add', 'Bob', '--config', config], { env: { BESTER_PASSWORD: PASSWORDS[2] ?? '' } });
    assert.equal(add.code, 0, add.stderr);
    assert.equal(await verify(db, 'Bob', PASSWORDS[2] ?? ''), true);
    const result = await runBester(['user', 'list', '--config', config]);
    assert.equal(result.code, 0, result.stderr);
    // docs/protocol.md §2.6 (issue 11): Bob's account is bob; names are listed in code-unit order.
    assert.equal(result.stdout, 'alice\nbob\n');
  });

  it('changes a password, read from piped stdin without the flag', async () => {
    const result = await runBester(['user', 'passwd', 'alice', '--config', config], { input: `${PASSWORDS[3]}\r\n` });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'password of user "alice" changed\n');
    assert.equal(await verify(db, 'alice', PASSWORDS[3] ?? ''), true);
    assert.equal(await verify(db, 'alice', PASSWORDS[0] ?? ''), false);
  });

  it('prefers --password-stdin over BESTER_PASSWORD', async () => {
    const result = await runBester(['user', 'passwd', 'alice', '--config', config, '--password-stdin'], {
      input: PASSWORDS[1] ?? '', env: { BESTER_PASSWORD: 'not-this-one' },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await verify(db, 'alice', PASSWORDS[1] ?? ''), true);
  });

  it('fails for an unknown user on passwd and remove', async () => {
    assertOneLineError(
      await runBester(['user', 'passwd', 'carol', '--config', config], { input: 'pw' }), 1, /^bester: no such user "carol"\n$/);
    assertOneLineError(await runBester(['user', 'remove', 'carol', '--config', config]), 1, /^bester: no such user "carol"\n$/);
  });

  it('removes a user', async () => {
    const result = await runBester(['user', 'remove', 'alice', '--config', config]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'user "alice" removed\n');
    assert.equal((await runBester(['user', 'list', '--config', config])).stdout, 'bob\n');
  });

  it('refuses an empty password and an invalid username', async () => {
    assertOneLineError(
      await runBester(['user', 'add', 'dave', '--config', config, '--password-stdin'], { input: '\n' }), 1, /password is empty/);
    assertOneLineError(
      await runBester(['user', 'add', '  ', '--config', config], { input: 'pw' }), 1, /invalid username "": the username is empty/);
    assertOneLineError(
      await runBester(['user', 'add', 'x'.repeat(65), '--config', config], { input: 'pw' }), 1, /longer than 64/);
    assertOneLineError(
      await runBester(['user', 'add', 'bob\u202egnp.exe', '--config', config], { input: 'pw' }), 1, /contains U\+202E/);
    assert.equal((await runBester(['user', 'list', '--config', config])).stdout, 'bob\n');
  });

  it('takes --db instead of --config', async () => {
    const other = join(dir, 'other', 'accounts.db');
    const add = await runBester(['user', 'add', 'erin', '--db', other, '--password-stdin'], { input: PASSWORDS[4] ?? '' });
    assert.equal(add.code, 0, add.stderr);
    assert.equal(await verify(other, 'erin', PASSWORDS[4] ?? ''), true);
    assert.equal((await runBester(['user', 'list', '--db', other])).stdout, 'erin\n');
  });

  it('reports a bad config in one message, exit 1', async () => {
    const bad = join(dir, 'bad.conf');
    await writeFile(bad, '{ "network": ');
    assertOneLineError(await runBester(['user', 'list', '--config', bad]), 1, /invalid JSON/);
    assertOneLineError(await runBester(['user', 'list', '--config', join(dir, 'missing.conf')]), 1, /cannot read/);
  });

  it('exits 2 on usage errors', async () => {
    const cases: string[][] = [
      [],
      ['frobnicate'],
      ['--frob'],
      ['user'],
      ['user', 'rename', 'alice', '--config', config],
      ['user', 'list'],
      ['user', 'add', 'alice'],
      ['user', 'add', 'alice', '--config', config, '--db', db],
      ['user', 'add', '--config', config],
      ['user', 'add', 'alice', 'bob', '--config', config],
      ['user', 'add', 'alice', '--config', config, '--password', 'hunter2'],
      ['user', 'list', 'extra', '--config', config],
      ['user', 'remove', 'alice', '--config', config, '--password-stdin'],
      ['check-config'],
    ];
    for (const args of cases) {
      const result = await runBester(args, { input: 'pw' });
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.doesNotMatch(result.stderr, /\n\s+at /);
    }
    assert.match((await runBester(['user', 'rename', 'x', '--db', db])).stderr,
      /^bester: unknown user subcommand "rename"\nTry 'bester user --help'\.\n$/);
  });

  it('shows help with exit 0', async () => {
    for (const args of [['--help'], ['-h'], ['user', '--help'], ['user', 'add', '--help'], ['user', 'remove', '-h'],
      ['user', 'passwd', '--help'], ['user', 'list', '--help'], ['check-config', '--help']]) {
      const result = await runBester(args);
      assert.equal(result.code, 0, args.join(' '));
      assert.match(result.stdout, /^Usage: bester/, args.join(' '));
    }
    const add = await runBester(['user', 'add', '--help']);
    assert.match(add.stdout, /BESTER_PASSWORD/);
    assert.match(add.stdout, /--password-stdin/);
  });

  it('routes check-config', async () => {
    const result = await runBester(['check-config', config]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /configuration OK/);
  });
});

/** A fake terminal: isTTY, raw mode recorded, keystrokes pushed by the test. */
function fakeTerminal(): { io: CliIo; keys: PassThrough; err: () => string; out: () => string; raw: boolean[] } {
  const keys = new PassThrough();
  const raw: boolean[] = [];
  const stdin = Object.assign(keys, { isTTY: true, setRawMode: (mode: boolean) => raw.push(mode) });
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void): Writable => new Writable({
    write(chunk: Buffer, _encoding, callback) {
      append(chunk.toString());
      callback();
    },
  });
  const io: CliIo = {
    stdin,
    stdout: sink((s) => (out += s)),
    stderr: sink((s) => (err += s)),
    env: {},
  };
  return { io, keys, err: () => err, out: () => out, raw };
}

describe('bester user on a terminal (in process)', () => {
  it('asks twice without echo', async () => {
    const path = join(dir, 'tty.db');
    const t = fakeTerminal();
    const done = main(['user', 'add', 'frank', '--db', path], t.io);
    // Typed with a typo fixed by backspace, then the same again, both lines in one burst.
    t.keys.write(`${PASSWORDS[5]}x\u007f\r${PASSWORDS[5]}\r`);
    assert.equal(await done, 0, t.err());
    assert.equal(t.err(), 'Password: \nAgain: \n');
    assert.equal(t.out(), 'user "frank" added\n');
    assert.deepEqual(t.raw, [true, false]);
    assert.equal(await verify(path, 'frank', PASSWORDS[5] ?? ''), true);
    outputs.push(t.out(), t.err());
  });

  it('fails when the two entries differ, and on Ctrl-C', async () => {
    const path = join(dir, 'tty2.db');
    const t = fakeTerminal();
    const done = main(['user', 'add', 'gina', '--db', path], t.io);
    t.keys.write('one\rtwo\r');
    assert.equal(await done, 1);
    assert.match(t.err(), /bester: the passwords do not match\n$/);

    const c = fakeTerminal();
    const cancelled = main(['user', 'add', 'gina', '--db', path], c.io);
    c.keys.write('abc\u0003');
    assert.equal(await cancelled, 1);
    assert.match(c.err(), /bester: cancelled/);
    assert.deepEqual(c.raw, [true, false]);
    assert.equal((await runBester(['user', 'list', '--db', path])).stdout, '');
  });
});

it('never prints a password', () => {
  assert.ok(outputs.length > 20);
  for (const output of outputs) {
    for (const password of PASSWORDS) assert.ok(!output.includes(password), `password leaked in: ${output}`);
  }
});
