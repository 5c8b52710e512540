// Runs the README's examples so they cannot rot. A fenced block is run when the line before it
// (blank lines allowed) is an HTML comment `<!-- test: KIND {json} -->`:
//
//   handler  a ```ts block: a complete handler. It is saved in a temp dir with its import of
//            'bester/handler' pointed at src/sdk/handler.ts (outside the repository the package's
//            self-reference does not resolve), made executable and started by a real daemon as the
//            handler for json.type (json.input optional); alice sends json.send, bob must receive
//            json.receive and alice must get "good". Users are logged in with the client SDK.
//   sh       a ```sh block, run with `sh -e` from the repository root against ONE daemon shared by all
//            sh blocks, in README order. That daemon serves every handler of examples/server.conf, on
//            port 0 in a temp dir, with the demo users alice and bob (password "demo", given to the
//            commands as BESTER_PASSWORD). Before running, `127.0.0.1:2220` becomes the daemon's
//            address and `examples/server.conf` a copy of its config in the temp dir.
//            json: "background": true   start it, wait until it has connected, and keep it running
//                                       (killed at the end); its output is "the listener's".
//                  "stdout": "text"      the block's stdout must contain text;
//                  "listen": "text"      the listener's stdout must come to contain text (10 s);
//                  "exit": n             expected exit code (default 0).
// Every run is bounded (30 s a block).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { ROOT, rawConfig, startTestDaemon, tempDir, type HandlerSpec, type TestDaemon, type TestDaemonOptions } from '../helpers/daemon.ts';
import { exampleHandler, Inbox } from '../helpers/examples.ts';

interface Block {
  readonly kind: string;
  readonly args: Record<string, unknown>;
  readonly lang: string;
  readonly code: string;
  readonly line: number;
}

const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const BLOCK_TIMEOUT_MS = 30_000;
const DEMO_USERS = { alice: 'demo', bob: 'demo' };

/** The marked blocks, in order. A marker not followed by a fenced block is an error. */
function runnableBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const marker = /<!--\s*test:\s*(\w+)\s*(\{[\s\S]*?\})?\s*-->/g;
  for (const match of markdown.matchAll(marker)) {
    const line = markdown.slice(0, match.index).split('\n').length;
    const rest = markdown.slice(match.index + match[0].length);
    const fence = /^\s*\n```(\w+)\n([\s\S]*?)\n```/.exec(rest);
    if (!fence) throw new Error(`README.md:${line}: a test marker must be followed by a fenced code block`);
    blocks.push({
      kind: match[1]!,
      args: match[2] === undefined ? {} : (JSON.parse(match[2]) as Record<string, unknown>),
      lang: fence[1]!,
      code: fence[2]!,
      line,
    });
  }
  return blocks;
}

const blocks = runnableBlocks(README);

describe('README examples', () => {
  test('the README marks its handler and shell examples as runnable', () => {
    assert.ok(blocks.some((b) => b.kind === 'handler' && b.lang === 'ts'), 'a ```ts handler block');
    assert.ok(blocks.some((b) => b.kind === 'sh' && b.lang === 'sh'), 'a ```sh block');
    for (const b of blocks) assert.ok(['handler', 'sh'].includes(b.kind), `README.md:${b.line}: unknown test kind ${b.kind}`);
  });

  for (const block of blocks.filter((b) => b.kind === 'handler')) {
    test(`handler at README.md:${block.line} serves a real daemon`, async () => runHandlerBlock(block));
  }

  describe('shell commands against the examples', () => {
    const shell = blocks.filter((b) => b.kind === 'sh');
    let d: TestDaemon;
    let configPath: string;
    const background: Background[] = [];
    before(async () => {
      const options: TestDaemonOptions = { handlers: exampleHandlers(), users: DEMO_USERS };
      d = await startTestDaemon(options);
      configPath = path.join(d.dir, 'server.conf');
      writeFileSync(configPath, JSON.stringify(rawConfig(d.dir, options), null, 2));
    });
    after(async () => {
      for (const b of background) b.stop();
      await d.close();
    });

    for (const block of shell) {
      test(`README.md:${block.line}: ${block.code.split('\n')[0]}`, async () => {
        const script = block.code.replaceAll('127.0.0.1:2220', `127.0.0.1:${d.port}`).replaceAll('examples/server.conf', configPath);
        if (block.args.background === true) {
          const before = d.server.registry.connectionCount;
          const started = startBackground(script);
          background.push(started);
          await waitFor(() => d.server.registry.connectionCount > before, 15_000, () => `the command did not connect: ${started.output()}`);
          return;
        }
        const result = await run(script);
        const expectedExit = typeof block.args.exit === 'number' ? block.args.exit : 0;
        assert.equal(result.code, expectedExit, `exit code; stdout: ${result.stdout}\nstderr: ${result.stderr}`);
        if (typeof block.args.stdout === 'string') assert.ok(result.stdout.includes(block.args.stdout), `stdout lacks ${block.args.stdout}: ${result.stdout}`);
        const listen = block.args.listen;
        if (typeof listen === 'string') {
          const listener = background.at(-1);
          assert.ok(listener, 'a "listen" expectation needs a background block before it');
          await waitFor(() => listener.stdout().includes(listen), 10_000, () => `the listener did not print ${listen}: ${listener.output()}`);
        }
      });
    }
  });
});

/** Every handler of examples/server.conf, started from examples/handlers/ as there. */
function exampleHandlers(): Record<string, HandlerSpec> {
  const conf = JSON.parse(readFileSync(path.join(ROOT, 'examples/server.conf'), 'utf8')) as {
    handlers: { typeMap: Record<string, { handlerBinary: string; input?: 'data' | 'envelope' }> };
  };
  const handlers: Record<string, HandlerSpec> = {};
  for (const [type, entry] of Object.entries(conf.handlers.typeMap)) {
    handlers[type] = exampleHandler(path.basename(entry.handlerBinary), entry.input === undefined ? {} : { input: entry.input });
  }
  return handlers;
}

async function runHandlerBlock(block: Block): Promise<void> {
  const { type, send, receive, input } = block.args as { type: string; send: unknown; receive: unknown; input?: 'data' | 'envelope' };
  assert.equal(typeof type, 'string', `README.md:${block.line}: the marker needs "type"`);
  const sdk = pathToFileURL(path.join(ROOT, 'src/sdk/handler.ts')).href;
  const code = block.code.replaceAll(/(['"])bester\/handler\1/g, JSON.stringify(sdk));
  const dir = tempDir('bt-readme-');
  const file = path.join(dir, `${type}.ts`);
  writeFileSync(file, `${code}\n`);
  chmodSync(file, 0o755);
  let d: TestDaemon | null = null;
  const inboxes: Inbox[] = [];
  try {
    d = await startTestDaemon({ handlers: { [type]: { binary: file, ...(input ? { input } : {}) } }, users: DEMO_USERS });
    assert.equal(d.server.handlerStatus()[0]?.state, 'ready', 'the snippet did not start listening');
    const alice = await Inbox.open(`127.0.0.1:${d.port}`, 'alice', 'demo');
    const bob = await Inbox.open(`127.0.0.1:${d.port}`, 'bob', 'demo');
    inboxes.push(alice, bob);
    const report = await alice.client.send(type, send);
    assert.equal(report.status, 'good', `status report: ${JSON.stringify(report.raw)}`);
    assert.deepEqual(await bob.next(), { type, data: receive });
  } finally {
    await Promise.all(inboxes.map((i) => i.close()));
    await d?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function commandEnv(): NodeJS.ProcessEnv {
  const nodeDir = path.dirname(process.execPath);
  return { ...process.env, PATH: `${nodeDir}${path.delimiter}${process.env.PATH ?? ''}`, BESTER_PASSWORD: 'demo' };
}

function run(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-e', '-c', script], { cwd: ROOT, env: commandEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${BLOCK_TIMEOUT_MS} ms)`;
      killGroup(child);
    }, BLOCK_TIMEOUT_MS);
    child.on('error', (err) => (stderr += String(err)));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface Background {
  stdout(): string;
  output(): string;
  stop(): void;
}

function startBackground(script: string): Background {
  const child = spawn('sh', ['-e', '-c', script], { cwd: ROOT, env: commandEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.on('error', (err) => (stderr += String(err)));
  const limit = setTimeout(() => killGroup(child), 5 * 60_000); // never outlive a stuck test run
  limit.unref();
  return {
    stdout: () => stdout,
    output: () => `stdout: ${stdout}\nstderr: ${stderr}`,
    stop: () => {
      clearTimeout(limit);
      killGroup(child);
    },
  };
}

/** The shell and what it started (npx, then node) are one process group: stop them together. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

async function waitFor(check: () => boolean, timeoutMs: number, describeFailure: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(describeFailure());
    await new Promise((r) => setTimeout(r, 25));
  }
}
