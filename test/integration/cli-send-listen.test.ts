// `bester send` and `bester listen`, spawned as child processes against a real daemon: passwords
// through --password-stdin and BESTER_PASSWORD, output formats, exit codes, and the error exits.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { PassThrough, Writable } from 'node:stream';
import { main, type CliIo } from '../../src/cli/bester-main.ts';
import { connect, type BesterClient } from '../../src/sdk/client.ts';
import { BESTER, runBester, startBester, type Result } from '../helpers/bester-cli.ts';
import { ROOT, startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';

const outputs: string[] = [];
function keep(result: Result): Result {
  outputs.push(result.stdout, result.stderr);
  return result;
}

function assertOneLineError(result: Result, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, `exit code; stderr: ${result.stderr}`);
  assert.match(result.stderr, /^bester: /);
  assert.match(result.stderr, pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

function lines(text: string): unknown[] {
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown);
}

async function waitFor(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('bester send and listen (spawned)', () => {
  let d: TestDaemon;
  let server: string;
  let alice: BesterClient;
  const env = (user: string): Record<string, string> => ({ BESTER_SERVER: server, BESTER_USER: user, BESTER_PASSWORD: `${user}-pw` });

  before(async () => {
    d = await startTestDaemon({ handlers: { echo: {}, note: {} } });
    server = `127.0.0.1:${d.port}`;
    alice = await connect({ server, username: 'alice', password: 'alice-pw' });
  });
  after(async () => {
    await alice.close();
    await d.close();
  });

  test('send: the report as one JSON line, exit 0; password from --password-stdin', async () => {
    const result = keep(await runBester(['send', '--server', server, '--user', 'alice', '--password-stdin', 'echo', '{"to":[]}'], { input: 'alice-pw\n' }));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    const [report, ...rest] = lines(result.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(rest, []);
    assert.equal(report?.status, 'good');
    assert.equal(typeof report?.id, 'string');
    assert.deepEqual(Object.keys(report ?? {}).toSorted(), ['id', 'status']);
  });

  test('send: server, user and password from the environment; --id, --text; unix address', async () => {
    const result = keep(await runBester(['send', '--id', 'm-42', '--text', 'hello there', 'dummy'], { env: env('bob') }));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '{"id":"m-42","status":"good"}\n');
    const unix = keep(await runBester(['send', '--server', `unix:${d.unixPath}`, '--id', 'u1', 'dummy'], { env: env('bob') }));
    assert.equal(unix.stdout, '{"id":"u1","status":"good"}\n', unix.stderr);
  });

  test('send: a bad report is printed, its reason goes to stderr, exit 1', async () => {
    // "nobody" has no account (a known user who is offline would get it kept for later).
    const result = keep(await runBester(['send', '--id', 'b1', 'echo', '{"to":["nobody"],"text":"hi"}'], { env: env('alice') }));
    assert.equal(result.code, 1);
    const [report] = lines(result.stdout) as Array<Record<string, unknown>>;
    assert.equal(report?.status, 'bad');
    assert.equal(report?.code, 'recipients_offline');
    assert.deepEqual(report?.undelivered, ['nobody']);
    assertOneLineError(result, 1, /\[recipients_offline\] \(not delivered to: nobody\)\n$/);
    const unknown = keep(await runBester(['send', 'nosuchtype'], { env: env('alice') }));
    assertOneLineError(unknown, 1, /\[unknown_type\]/);
  });

  test('send --wait-delivery: the echo comes back and is printed after the report', async () => {
    const result = keep(await runBester(['send', '--wait-delivery', '1', 'echo', '{"to":["alice"],"text":"ping"}'], { env: env('alice') }));
    assert.equal(result.code, 0, result.stderr);
    const [report, delivery] = lines(result.stdout) as Array<Record<string, unknown>>;
    assert.equal(report?.status, 'good');
    assert.deepEqual(delivery, { type: 'echo', data: { to: ['alice'], text: 'ping' } });
    const missing = keep(await runBester(['send', '--wait-delivery', '1', '--timeout-ms', '300', 'echo', '{"to":[]}'], { env: env('alice') }));
    assertOneLineError(missing, 1, /^bester: got 0 of 1 deliveries within 300 ms\n$/);
  });

  test('send --data-stdin reads the JSON data from stdin', async () => {
    const result = keep(await runBester(['send', '--data-stdin', '--wait-delivery', '1', 'echo'], {
      env: env('bob'),
      input: '{"to": ["bob"], "n": [1, 2]}\n',
    }));
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(lines(result.stdout)[1], { type: 'echo', data: { to: ['bob'], n: [1, 2] } });
  });

  test('send: a refused login, an unreachable server, a bad address, bad JSON', async () => {
    const refused = keep(await runBester(['send', 'dummy'], { env: { ...env('alice'), BESTER_PASSWORD: 'wrong-Secret-9' } }));
    assertOneLineError(refused, 1, /^bester: login refused: authentication failed: unknown user or wrong password\n$/);

    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const unreachable = keep(await runBester(['send', '--server', `127.0.0.1:${port}`, 'dummy'], { env: env('alice') }));
    assertOneLineError(unreachable, 1, new RegExp(`^bester: cannot connect to 127\\.0\\.0\\.1:${port}: connection refused\\n$`));

    const badAddress = keep(await runBester(['send', '--server', 'localhost', 'dummy'], { env: env('alice') }));
    assertOneLineError(badAddress, 2, /^bester: bad server address "localhost": expected HOST:PORT, \[IPv6\]:PORT or unix:PATH\nTry 'bester send --help'\.\n$/);
    const v6 = keep(await runBester(['send', '--server', '::1:2221', 'dummy'], { env: env('alice') }));
    assertOneLineError(v6, 2, /put an IPv6 address in brackets/);

    const badJson = keep(await runBester(['send', 'echo', '{to: bob}'], { env: env('alice') }));
    assertOneLineError(badJson, 2, /^bester: DATA is not valid JSON .*use --text for a plain string\n/);
    const badStdin = keep(await runBester(['send', '--data-stdin', 'echo'], { env: env('alice'), input: 'nope' }));
    assertOneLineError(badStdin, 2, /the data on stdin is not valid JSON/);
  });

  test('send and listen: usage errors exit 2, help exits 0', async () => {
    const noPassword = { BESTER_SERVER: server, BESTER_USER: 'alice' };
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['send', 'dummy'], noPassword, /no password: use --password-stdin or BESTER_PASSWORD/],
      [['send', 'dummy'], { BESTER_USER: 'alice', BESTER_PASSWORD: 'x' }, /give the server/],
      [['send', 'dummy'], { BESTER_SERVER: server, BESTER_PASSWORD: 'x' }, /give the user/],
      [['send'], env('alice'), /give the message TYPE/],
      [['send', 'echo', '1', '2'], env('alice'), /too many arguments/],
      [['send', '--text', 'x', 'echo', '1'], env('alice'), /give the data one way/],
      [['send', '--data-stdin', '--password-stdin', 'echo'], env('alice'), /cannot both read stdin/],
      [['send', '--password', 'hunter2', 'dummy'], env('alice'), /Unknown option '--password'/],
      [['send', '--wait-delivery', 'two', 'dummy'], env('alice'), /--wait-delivery must be a whole number/],
      [['listen', 'extra'], env('alice'), /listen takes no arguments/],
      [['listen', '--count', '0'], env('alice'), /--count must be a whole number of at least 1/],
      [['listen'], noPassword, /no password/],
    ];
    for (const [args, environment, pattern] of cases) {
      assertOneLineError(keep(await runBester(args, { env: environment })), 2, pattern);
    }
    for (const command of ['send', 'listen']) {
      const help = await runBester([command, '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, new RegExp(`^Usage: bester ${command}`));
      assert.match(help.stdout, /BESTER_PASSWORD/);
    }
    const top = await runBester(['--help']);
    assert.match(top.stdout, /send TYPE \[DATA\]/);
    assert.match(top.stdout, /listen/);
    assert.match(top.stdout, /status/);
  });

  test('listen: one JSON line per delivery, --type filters, exits 0 after --count', async () => {
    const listen = startBester(['listen', '--count', '2', '--type', 'echo', '--password-stdin', '--server', server, '--user', 'bob'], { input: 'bob-pw' });
    await listen.waitForStderr(/listening as bob on 127\.0\.0\.1:\d+\n/);
    assert.equal((await alice.send('note', { to: ['bob'], n: 0 })).status, 'good'); // filtered out
    assert.equal((await alice.send('echo', { to: ['bob'], n: 1 })).status, 'good');
    assert.equal((await alice.send('echo', { to: ['bob'], text: 'line\nbreak' })).status, 'good');
    const result = keep(await listen.done);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '{"type":"echo","data":{"to":["bob"],"n":1}}\n{"type":"echo","data":{"to":["bob"],"text":"line\\nbreak"}}\n');
  });

  test('listen: SIGTERM and SIGINT end it with exit 0; --timeout-ms without --count too', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const listen = startBester(['listen'], { env: env('carol') });
      await listen.waitForStderr(/listening as carol/);
      assert.equal((await alice.send('echo', { to: ['carol'], s: signal })).status, 'good');
      await waitFor(() => listen.stdout().includes(signal), 'the delivery on stdout');
      listen.child.kill(signal);
      const result = keep(await listen.done);
      assert.equal(result.code, 0, `${signal}: ${result.stderr}`);
      assert.deepEqual(lines(result.stdout), [{ type: 'echo', data: { to: ['carol'], s: signal } }]);
    }
    const quiet = keep(await runBester(['listen', '--quiet', '--timeout-ms', '200'], { env: env('carol') }));
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stderr, '');
    const short = keep(await runBester(['listen', '--count', '1', '--timeout-ms', '200'], { env: env('carol') }));
    assertOneLineError(short, 1, /got 0 of 1 deliveries within 200 ms/);
  });

  test('listen: exits 1 when the server drops the connection; --reconnect keeps listening', async () => {
    const listen = startBester(['listen'], { env: env('carol') });
    await listen.waitForStderr(/listening as carol/);
    await waitFor(() => d.server.registry.isOnline('carol'), 'carol online');
    for (const session of d.server.registry.connectionsOf('carol')) session.close();
    const result = keep(await listen.done);
    assertOneLineError(result, 1, /bester: 127\.0\.0\.1:\d+ closed the connection\n$/);

    const again = startBester(['listen', '--reconnect', '--count', '1'], { env: env('carol') });
    await again.waitForStderr(/listening as carol/);
    await waitFor(() => d.server.registry.isOnline('carol'), 'carol online');
    for (const session of d.server.registry.connectionsOf('carol')) session.close();
    await again.waitForStderr(/reconnected to 127\.0\.0\.1/);
    assert.match(again.stderr(), /closed the connection; reconnecting\n/);
    assert.equal((await alice.send('echo', { to: ['carol'], after: 'reconnect' })).status, 'good');
    const done = keep(await again.done);
    assert.equal(done.code, 0, done.stderr);
    assert.deepEqual(lines(done.stdout), [{ type: 'echo', data: { to: ['carol'], after: 'reconnect' } }]);
  });

  test('listen: a reader that closes the pipe (| head -1) ends it quietly, exit 0', async () => {
    const listen = startBester(['listen'], { env: env('carol') });
    await listen.waitForStderr(/listening as carol/);
    assert.equal((await alice.send('echo', { to: ['carol'], n: 1 })).status, 'good');
    await waitFor(() => listen.stdout().includes('"n":1'), 'the first line');
    listen.child.stdout.destroy();
    for (let n = 2; n < 5; n++) assert.equal((await alice.send('echo', { to: ['carol'], n })).status, 'good');
    const result = keep(await listen.done);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /EPIPE|Error/);
  });

  // jq is required (.ci/run installs it): the docs promise `bester listen | jq` works.
  test('listen | jq, as in docs/sdk.md', async () => {
    const shell = spawn('sh', ['-c', `"${process.execPath}" "${BESTER}" listen --count 1 | jq -r .data.text`], {
      cwd: ROOT,
      env: { ...process.env, ...env('bob') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    shell.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    shell.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const killer = setTimeout(() => shell.kill('SIGKILL'), 20_000);
    const exited = once(shell, 'close');
    await waitFor(() => stderr.includes('listening as bob'), 'the listening note', 10_000);
    assert.equal((await alice.send('echo', { to: ['bob'], text: 'hello from jq' })).status, 'good');
    const [code] = (await exited) as [number | null];
    clearTimeout(killer);
    assert.equal(code, 0, stderr);
    assert.equal(stdout, 'hello from jq\n');
  });

  test('send on a terminal: the password is asked once, without echo (in process)', async () => {
    const keys = new PassThrough();
    const raw: boolean[] = [];
    const stdin = Object.assign(keys, { isTTY: true, setRawMode: (mode: boolean) => raw.push(mode) });
    let out = '';
    let err = '';
    const sink = (append: (s: string) => void): Writable =>
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          append(chunk.toString());
          callback();
        },
      });
    const io: CliIo = { stdin, stdout: sink((t) => (out += t)), stderr: sink((t) => (err += t)), env: { BESTER_SERVER: server, BESTER_USER: 'bob' } };
    const done = main(['send', '--id', 't1', 'dummy'], io);
    keys.write('bob-pw\r');
    assert.equal(await done, 0, err);
    assert.equal(err, 'Password: \n');
    assert.equal(out, '{"id":"t1","status":"good"}\n');
    assert.deepEqual(raw, [true, false]);
  });

  test('never prints a password', () => {
    assert.ok(outputs.length > 20);
    for (const output of outputs) {
      for (const password of ['alice-pw', 'bob-pw', 'carol-pw', 'wrong-Secret-9', 'hunter2']) {
        assert.ok(!output.includes(password), `password leaked in: ${output}`);
      }
    }
  });
});

