// Issue 12, item 3: --version on both commands, --password-stdin at a real terminal (a
// pseudo-terminal from util-linux `script`), the refusal where echo cannot be turned off, and
// `bester send` printing every field of the status report.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { after, test } from 'node:test';
import { main, type CliIo } from '../../src/cli/bester-main.ts';
import { reportLine } from '../../src/cli/send-command.ts';
import { openAccountStore } from '../../src/server/accounts/account-store.ts';
import { runBester } from '../helpers/bester-cli.ts';
import { ROOT, tempDir } from '../helpers/daemon.ts';

const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const dir = tempDir('bt-polish-');
after(() => rmSync(dir, { recursive: true, force: true }));

function hasScript(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v script'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('--version: bester and besterd print the package version', async () => {
  for (const flag of ['--version', '-v']) {
    const bester = await runBester([flag]);
    assert.equal(bester.code, 0, bester.stderr);
    assert.equal(bester.stdout, `bester ${VERSION}\n`);
  }
  const besterd = execFileSync(process.execPath, [path.join(ROOT, 'src/cli/besterd.ts'), '--version'], { encoding: 'utf8' });
  assert.equal(besterd, `besterd ${VERSION}\n`);
});

/** Runs `bester ARGS` on a pseudo-terminal, typing `lines` each after the prompt that asks for it. */
function onTerminal(args: readonly string[], prompts: readonly string[], lines: readonly string[]): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, path.join(ROOT, 'src/cli/bester.ts'), ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => undefined);
  let output = '';
  let typed = 0;
  let from = 0; // where in the output to look for the next prompt
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    output += s;
    // `script` hands what we write to the terminal as if typed.
    while (typed < lines.length) {
      const prompt = prompts[typed] ?? '';
      const at = output.indexOf(prompt, from);
      if (at < 0) break;
      from = at + prompt.length;
      child.stdin.write(`${lines[typed++]}\r`);
    }
  });
  child.stderr.resume();
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      child.stdin.destroy();
      resolve({ code, output });
    });
  });
}

test('--password-stdin at a terminal asks twice without echo instead of reading echoed keys', { skip: !hasScript() && 'needs script(1)' }, async () => {
  const db = path.join(dir, 'tty.db');
  const secret = 'tty-Polish-Secret-7';
  const result = await onTerminal(['user', 'add', 'carol', '--db', db, '--password-stdin'], ['Password: ', 'Again: '], [secret, secret]);
  assert.equal(result.code, 0, result.output);
  assert.match(result.output, /Password: \r?\nAgain: \r?\nuser "carol" added/);
  assert.ok(!result.output.includes(secret), `the password was echoed: ${JSON.stringify(result.output)}`);
  const store = await openAccountStore({ kind: 'sqlite', path: db });
  try {
    assert.equal(await store.verify('carol', secret), true);
  } finally {
    await store.close();
  }
});

test('--password-stdin at a terminal that cannot hide the keys is refused with a hint', async () => {
  const stdin = Object.assign(new PassThrough(), { isTTY: true }); // a terminal without setRawMode
  let stderr = '';
  const io: CliIo = {
    stdin,
    stdout: new Writable({ write: (_c, _e, cb) => cb() }),
    stderr: new Writable({ write: (c: Buffer, _e, cb) => ((stderr += c.toString()), cb()) }),
    env: {},
  };
  const code = await main(['user', 'add', 'dave', '--db', path.join(dir, 'refuse.db'), '--password-stdin'], io);
  assert.equal(code, 1);
  assert.match(stderr, /^bester: --password-stdin reads the password from a pipe, and stdin is a terminal that cannot hide what is typed: pipe it in .* or set BESTER_PASSWORD\n$/);
  const send = await main(['send', '--server', '127.0.0.1:9', '--user', 'dave', '--password-stdin', 'echo'], io);
  assert.equal(send, 1);
});

test('bester send prints the whole report: every header field, messageType left out', () => {
  const raw = {
    header: { status: 'bad', messageType: 'statusReport', code: 'delivery_failed', reason: 'r', undelivered: ['x'], stored: ['bob'], servers: { s2: 'queued' }, future: 1 },
    payload: { id: 'm1' },
  };
  const line = reportLine({ id: 'm1', status: 'bad', code: 'delivery_failed', reason: 'r', undelivered: ['x'], stored: ['bob'], raw });
  assert.equal(line, '{"id":"m1","status":"bad","code":"delivery_failed","reason":"r","undelivered":["x"],"stored":["bob"],"servers":{"s2":"queued"},"future":1}\n');
  const original = { header: { status: '0', messageType: 'statusReport' }, payload: { id: 'o1' } };
  assert.equal(reportLine({ id: 'o1', status: 'good', raw: original }), '{"id":"o1","status":"good"}\n', 'the SDK reads status "0" as good');
});
