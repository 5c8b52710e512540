// The SDK examples (examples/sdk/*.ts) run as a reader would run them, against a test daemon with
// the example echo handler; and docs/sdk.md shows each of them exactly as it is.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';

const EXAMPLES = path.join(ROOT, 'examples/sdk');
const FILES = ['send.ts', 'listen.ts', 'round-trip.ts', 'who-is-online.ts'];

interface Run {
  readonly done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  readonly stderr: () => string;
  kill(): void;
}

function runExample(file: string, args: readonly string[], env: Record<string, string>): Run {
  const child = spawn(process.execPath, [path.join(EXAMPLES, file), ...args], {
    cwd: ROOT,
    env: { ...process.env, BESTER_PASSWORD: 'demo', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
  return { done, stderr: () => stderr, kill: () => child.kill('SIGINT') };
}

async function waitFor(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('examples/sdk', () => {
  let d: TestDaemon;
  let env: Record<string, string>;
  before(async () => {
    d = await startTestDaemon({
      users: { alice: 'demo', bob: 'demo' },
      handlers: { echo: { binary: path.join(ROOT, 'examples/handlers/echo.ts') } },
    });
    env = { BESTER_SERVER: `127.0.0.1:${d.port}` };
  });
  after(() => d.close());

  test('listen.ts prints what send.ts sends', async () => {
    const listen = runExample('listen.ts', ['1'], env);
    await waitFor(() => listen.stderr().includes('listening as bob'), 'listen.ts to log in');
    const send = await runExample('send.ts', ['bob', 'hi there'], env).done;
    assert.equal(send.code, 0, send.stderr);
    assert.equal(send.stdout, 'delivered to bob\n');
    const listened = await listen.done;
    assert.equal(listened.code, 0, listened.stderr);
    assert.equal(listened.stdout, 'echo: {"to":"bob","text":"hi there"}\n');
  });

  test('send.ts: a bad report, a refused login, an unreachable server', async () => {
    const offline = await runExample('send.ts', ['nobody'], env).done; // no account: not kept for later
    assert.equal(offline.code, 1);
    assert.match(offline.stdout, /^not delivered \(recipients_offline\): /);
    const refused = await runExample('send.ts', [], { ...env, BESTER_PASSWORD: 'nope' }).done;
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, 'login refused: authentication failed: unknown user or wrong password\n');
    const unreachable = await runExample('send.ts', [], { BESTER_SERVER: `unix:${path.join(d.dir, 'none.sock')}` }).done;
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /^cannot connect to unix:.*none\.sock: no such socket file\n$/);
  });

  test('listen.ts reconnects when the server drops it, and stops on Ctrl-C', async () => {
    const listen = runExample('listen.ts', [], env);
    await waitFor(() => listen.stderr().includes('listening as bob'), 'listen.ts to log in');
    await waitFor(() => d.server.registry.isOnline('bob'), 'bob online');
    for (const session of d.server.registry.connectionsOf('bob')) session.close();
    await waitFor(() => listen.stderr().includes('reconnected'), 'the reconnect');
    assert.match(listen.stderr(), /disconnected \(127\.0\.0\.1:\d+ closed the connection\); reconnecting\n/);
    listen.kill();
    const result = await listen.done;
    assert.equal(result.code, 0, result.stderr);
  });

  test('round-trip.ts: the echo comes back', async () => {
    const result = await runExample('round-trip.ts', [], env).done;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^message [0-9a-f]{8}-1: good; "echo" back after \d+ ms\n$/);
  });

  test('who-is-online.ts asks the informer', async () => {
    const result = await runExample('who-is-online.ts', [d.server.informerPath ?? ''], env).done;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^bester \d+\.\d+\.\d+: 0 connections\nonline: nobody\nhandler echo: ready\n$/);
  });

  test('docs/sdk.md shows each example exactly as it is', () => {
    const doc = readFileSync(path.join(ROOT, 'docs/sdk.md'), 'utf8');
    for (const file of FILES) {
      const source = readFileSync(path.join(EXAMPLES, file), 'utf8');
      assert.ok(doc.includes(`\`\`\`ts\n${source}\`\`\``), `docs/sdk.md does not show examples/sdk/${file} as it is`);
    }
  });
});
