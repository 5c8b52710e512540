// The original author's own files, run the way he ran them (issue 12, item 4): his server.conf at
// the top of a folder, his handler scripts in testing/, `besterd server.conf` started from the top,
// his client and listener scripts started from testing/. The files are test data kept outside the
// project (shared/original-besterd/, found from the repository root upwards); this test copies
// them into a temp dir (made executable: the copies kept there are read-only) and changes only:
// - the `database` block is removed: it asks for Redis, which comes with the cluster issue;
// - the listeners' fixed ports become "0" on loopback, and the scripts' fixed 127.0.0.1:2223 is
//   mapped to the port the daemon got by a small wrapper written here (the scripts run unchanged).
// His type2 script binds ../aSock like type1's (a bug of the original): the daemon must explain it
// in one line per restart, with the end of its stderr.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';
import { python3, tempDir } from '../helpers/daemon.ts';
import { originalLayout, runBesterdIn, startedPort, type LogLine } from '../helpers/original-besterd.ts';
import { until } from '../helpers/until.ts';

const dir = tempDir('bt-orig-');
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs one of the original's scripts unchanged, its fixed port 2223 mapped to the daemon's. */
const PORT_WRAPPER = `import runpy, socket, sys
port, script = int(sys.argv[1]), sys.argv[2]
plain_connect = socket.socket.connect
def connect(self, address):
    if isinstance(address, tuple) and address[1] == 2223:
        address = (address[0], port)
    return plain_connect(self, address)
socket.socket.connect = connect
sys.argv = [script]
runpy.run_path(script, run_name="__main__")
`;

interface Script {
  readonly child: ChildProcess;
  stdout(): string;
  readonly exited: Promise<number | null>;
}

function runScript(port: number, script: string, input: string): Script {
  const child = spawn(python3(), [path.join(dir, 'port-wrapper.py'), String(port), script], {
    cwd: path.join(dir, 'testing'), // "run the client from testing/"
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr?.resume();
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(input);
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => (clearTimeout(killer), resolve(code))));
  child.on('error', () => undefined);
  return { child, stdout: () => out, exited };
}

test('the original repository: besterd server.conf runs his handlers; his client and listener exchange messages', { timeout: 60_000 }, async () => {
  const conf = originalLayout(dir);
  delete conf['database']; // Redis: a later issue
  writeFileSync(path.join(dir, 'server.conf'), JSON.stringify(conf, null, '\t'));
  writeFileSync(path.join(dir, 'port-wrapper.py'), PORT_WRAPPER);
  const store = await openSqliteAccountStore(path.join(dir, 'bester.db'));
  for (const user of ['tbk', 'skippy']) await store.add(user, 'passwd'); // the scripts' password
  await store.close();

  const daemon = runBesterdIn(dir);
  const { logs, shown, exited } = daemon;
  const scripts: Script[] = [];
  try {
    const port = await startedPort(daemon);
    // His type1 handler, started from testing/, binds ../aSock: the configured "aSock" at the top.
    // type2's binds it too, and may be first: then type1's process dies of EADDRINUSE just after
    // the daemon found aSock accepting, and is started again. Ready means a type1 process that
    // said it listens (his script prints it once bound) and was found accepting.
    const type1Listening = (pid: unknown): boolean =>
      logs.some((l) => l.handler === 'type1' && l['pid'] === pid && l.stream === 'stdout' && String(l.msg).startsWith('Waiting for connection'));
    await until('type1 ready', () => logs.some((l) => l.handler === 'type1' && l.msg === 'handler ready' && type1Listening(l['pid'])), 20_000, shown);

    const listener = runScript(port, 'listenAs.py', 'tbk\n');
    scripts.push(listener);
    await until('the listener logged in', () => listener.stdout().includes('"id":"auth_special"'), 15_000, () => listener.stdout() + shown());

    // Its first frame is the login (docs/protocol.md §2.2: answered for auth_special, as the
    // original did); the message typed next is sent as type1 and goes to tbk and skippy.
    const client = runScript(port, 'testSuite.py', 'skippy\nlogging in\nhello from the original client\n');
    scripts.push(client);
    await until('tbk received the message', () => listener.stdout().includes('hello from the original client'), 15_000, () => listener.stdout() + shown());
    await until('the client read an answer', () => /"messageType": ?"(statusReport|receivedMessage)"/.test(client.stdout()), 15_000, () => client.stdout() + shown());

    // type2's script binds ../aSock as well: it cannot start, and each restart is one line saying
    // why with the end of its stderr (or, when it bound aSock first, where it listens instead).
    const restarts = (): LogLine[] => logs.filter((l) => l.handler === 'type2' && l.msg === 'handler restarting after a delay');
    await until('two restarts of type2', () => restarts().length >= 2, 15_000, shown);
    const explained = restarts().some((l) => (l['stderr'] as string[]).some((s) => s.includes('Address already in use')) || String(l['reason']).includes('the socket of handler type1'));
    assert.ok(explained, `no restart line says why:\n${shown()}`);
    const traces = logs.filter((l) => l.handler === 'type2' && l.stream === 'stderr' && String(l.msg).startsWith('Traceback'));
    assert.ok(traces.length <= 1, `the whole trace is logged at each restart (${traces.length} times)`);
  } finally {
    for (const script of scripts) script.child.kill('SIGKILL');
    await Promise.all(scripts.map((s) => s.exited));
    daemon.child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, shown());
});
