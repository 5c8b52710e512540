// HandlerSupervisor with real child processes: the scripted fake handler (run by this Node),
// small inline Node scripts, and the original-style Python handler.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HandlerConfig, HandlerSupervisionConfig } from '../../src/server/config/types.ts';
import { callHandler } from '../../src/server/handlers/handler-call.ts';
import { HandlerSupervisor } from '../../src/server/handlers/supervisor.ts';
import { createLogger } from '../../src/server/log.ts';
import { isAlive } from '../helpers/besterd-process.ts';

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'handlers');
const FAKE_HANDLER = path.join(FIXTURES, 'fake-handler.ts');
const ORIGINAL_STYLE = path.join(FIXTURES, 'original_style.py');
const CALL = { timeoutMs: 3000, maxReplyBytes: 1024 * 1024 };
const SUPERVISION: HandlerSupervisionConfig = {
  startTimeoutMs: 5000,
  restartDelayMs: 50,
  maxRestartDelayMs: 200,
  stopTimeoutMs: 2000,
};

const PYTHON = findPython();

/** python3 is required (.ci/run installs it): the wire-compatibility test needs a real Python handler. */
function findPython(): string {
  return execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
}

type LogLine = Record<string, unknown> & { msg?: string; level: number };

let dir = '';
let logs: LogLine[] = [];
let supervisors: HandlerSupervisor[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bh-'));
  logs = [];
  supervisors = [];
});
afterEach(async () => {
  await Promise.all(supervisors.map((supervisor) => supervisor.stop()));
  fs.rmSync(dir, { recursive: true, force: true });
});

function handler(type: string, overrides: Partial<HandlerConfig> = {}): HandlerConfig {
  return {
    type,
    socketPath: path.join(dir, `${type}.sock`),
    binary: process.execPath,
    args: [FAKE_HANDLER],
    timeoutMs: 3000,
    input: 'data',
    maxInFlight: 64,
    maxInFlightPerUser: 16,
    protocol: 'auto',
    connections: 2,
    ...overrides,
  };
}

function supervise(
  handlers: HandlerConfig[],
  options: { supervision?: Partial<HandlerSupervisionConfig>; env?: NodeJS.ProcessEnv } = {},
): HandlerSupervisor {
  const logger = createLogger({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line) as LogLine) });
  const supervisor = new HandlerSupervisor({
    handlers: new Map(handlers.map((config) => [config.type, config])),
    supervision: { ...SUPERVISION, ...options.supervision },
    cwd: dir,
    logger,
    ...(options.env ? { env: options.env } : {}),
  });
  supervisors.push(supervisor);
  return supervisor;
}

/** Polls `check` every 20 ms; fails the test after `timeoutMs`. */
async function waitUntil(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}


function logged(pattern: RegExp): LogLine | undefined {
  return logs.find((line) => typeof line.msg === 'string' && pattern.test(line.msg));
}

/** A Node script run with `node -e`; the socket path arrives as process.argv[1]. */
function inlineHandler(type: string, script: string): HandlerConfig {
  return handler(type, { args: ['-e', script] });
}

const LISTEN_SCRIPT = `
  const net = require('node:net');
  net.createServer((s) => s.destroy()).listen(process.argv[1]);
`;

describe('HandlerSupervisor', () => {
  it('starts a handler, logs its output, and stops it: SIGTERM, socket file removed, idempotent', async () => {
    const echo = handler('echo');
    const supervisor = supervise([echo, { ...handler('outside'), binary: null }]);
    assert.equal(supervisor.statusOf('echo')?.state, 'stopped');
    await supervisor.start();

    const status = supervisor.statusOf('echo');
    assert.equal(status?.state, 'ready');
    assert.equal(status.managed, true);
    assert.equal(status.restarts, 0);
    assert.equal(typeof status.pid, 'number');
    const pid = status.pid!;
    assert.deepEqual(supervisor.statusOf('outside'), {
      type: 'outside',
      state: 'external',
      pid: null,
      restarts: 0,
      lastExit: null,
      managed: false,
    });
    assert.equal(supervisor.statusOf('nope'), undefined);
    assert.deepEqual(
      supervisor.status().map((entry) => entry.type),
      ['echo', 'outside'],
    );
    assert.ok(logged(/^handler ready$/), 'logs "handler ready"');

    const reply = await callHandler(echo.socketPath, { to: ['alice'], text: 'hi' }, CALL);
    assert.deepEqual(reply.value, {
      header: { status: '0', command: { type: 'sendClients', data: ['alice'] } },
      data: { to: ['alice'], text: 'hi' },
    });
    await waitUntil('the stdout line is logged', () => logged(/^listening /) !== undefined);
    const line = logged(/^listening /)!;
    assert.equal(line['handler'], 'echo');
    assert.equal(line['pid'], pid);
    assert.equal(line.level, 30); // info

    const first = supervisor.stop();
    const second = supervisor.stop();
    await Promise.all([first, second]);
    await supervisor.stop();
    assert.equal(supervisor.statusOf('echo')?.state, 'stopped');
    assert.equal(supervisor.statusOf('echo')?.pid, null);
    assert.equal(supervisor.statusOf('echo')?.lastExit?.code, 0); // the fake handler exits 0 on SIGTERM
    assert.equal(isAlive(pid), false);
    assert.equal(fs.existsSync(echo.socketPath), false);
  });

  it('passes the socket path in argv and env, the type in env, and runs in cwd', async () => {
    const config = inlineHandler(
      'probe',
      `require('node:fs').writeFileSync('info.json', JSON.stringify({
         argv: process.argv.slice(1), socket: process.env.BESTER_HANDLER_SOCKET,
         type: process.env.BESTER_HANDLER_TYPE, custom: process.env.CUSTOM_VAR, cwd: process.cwd() }));
       ${LISTEN_SCRIPT}`,
    );
    const supervisor = supervise([config], { env: { ...process.env, CUSTOM_VAR: 'from-options' } });
    await supervisor.start();
    assert.equal(supervisor.statusOf('probe')?.state, 'ready');
    const info = JSON.parse(fs.readFileSync(path.join(dir, 'info.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(info, {
      argv: [config.socketPath],
      socket: config.socketPath,
      type: 'probe',
      custom: 'from-options',
      cwd: fs.realpathSync(dir),
    });
  });

  it('restarts a killed child, which answers again', async () => {
    const echo = handler('echo');
    const supervisor = supervise([echo]);
    await supervisor.start();
    const firstPid = supervisor.statusOf('echo')!.pid!;
    process.kill(firstPid, 'SIGKILL'); // leaves its socket file behind: the restart must remove it

    await waitUntil('a new child is ready', () => {
      const status = supervisor.statusOf('echo')!;
      return status.state === 'ready' && status.pid !== firstPid;
    });
    const status = supervisor.statusOf('echo')!;
    assert.equal(status.restarts, 1);
    assert.equal(status.lastExit?.signal, 'SIGKILL');
    assert.equal(status.lastExit?.code, null);
    assert.ok(!Number.isNaN(Date.parse(status.lastExit.at)));
    assert.ok(logged(/^handler exited$/));
    const reply = (await callHandler(echo.socketPath, { text: 'again' }, CALL)).value as { data: unknown };
    assert.deepEqual(reply.data, { text: 'again' });
  });

  it('restarts a child that exits by itself, again and again', async () => {
    const supervisor = supervise([handler('flaky')], { env: { ...process.env, FAKE_HANDLER_EXIT_AFTER_MS: '300' } });
    await supervisor.start();
    assert.equal(supervisor.statusOf('flaky')?.state, 'ready');
    await waitUntil('two restarts', () => supervisor.statusOf('flaky')!.restarts >= 2, 10_000);
    assert.equal(supervisor.statusOf('flaky')?.lastExit?.code, 0);
  });

  it('backs off without throwing when the binary does not exist', async () => {
    const binary = path.join(dir, 'no-such-handler');
    const config = handler('missing', { binary, args: [] });
    const supervisor = supervise([config], { supervision: { restartDelayMs: 10_000, maxRestartDelayMs: 10_000 } });
    await supervisor.start();
    const status = supervisor.statusOf('missing')!;
    assert.equal(status.state, 'backoff');
    assert.equal(status.pid, null);
    const line = logs.find((entry) => entry.level === 50 && String(entry.msg).includes(binary));
    assert.ok(line, 'an error line names the binary');
    assert.match(String(line.msg), /ENOENT/);
    const started = performance.now();
    await supervisor.stop(); // cancels the pending restart
    assert.ok(performance.now() - started < 1000);
    assert.equal(supervisor.statusOf('missing')?.state, 'stopped');
  });

  it('backs off when the binary is not executable', async () => {
    const binary = path.join(dir, 'not-executable');
    fs.writeFileSync(binary, '#!/bin/sh\n', { mode: 0o644 });
    const supervisor = supervise([handler('noexec', { binary, args: [] })], {
      supervision: { restartDelayMs: 10_000, maxRestartDelayMs: 10_000 },
    });
    await supervisor.start();
    assert.equal(supervisor.statusOf('noexec')?.state, 'backoff');
    assert.ok(logs.some((entry) => entry.level === 50 && /EACCES/.test(String(entry.msg))));
  });

  it('doubles the restart delay up to the maximum, with jitter', async () => {
    const supervisor = supervise([handler('missing', { binary: path.join(dir, 'absent'), args: [] })], {
      supervision: { restartDelayMs: 20, maxRestartDelayMs: 80 },
    });
    await supervisor.start();
    const delays = (): number[] =>
      logs.filter((line) => line.msg === 'handler restarting after a delay').map((line) => Number(line['delayMs']));
    await waitUntil('five restart delays', () => delays().length >= 5);
    const [first = 0, second = 0, third = 0, fourth = 0, fifth = 0] = delays();
    assert.ok(first >= 16 && first <= 24, `first delay ${first}`);
    assert.ok(second >= 32 && second <= 48, `second delay ${second}`);
    assert.ok(third >= 64 && third <= 80, `third delay ${third}`);
    assert.ok(fourth >= 64 && fourth <= 80, `fourth delay ${fourth}`);
    assert.ok(fifth >= 64 && fifth <= 80, `fifth delay ${fifth}`);
    assert.ok(supervisor.statusOf('missing')!.restarts >= 4);
  });

  it('marks a handler failed when spawn() rejects its arguments outright', async () => {
    const supervisor = supervise([handler('bad-args', { args: ['nul\0byte'] })]);
    await supervisor.start();
    assert.equal(supervisor.statusOf('bad-args')?.state, 'failed');
    await supervisor.stop();
    assert.equal(supervisor.statusOf('bad-args')?.state, 'stopped');
  });

  it('logs stdout at info and stderr at warn, cutting long lines', async () => {
    const config = inlineHandler(
      'chatty',
      `process.stdout.write('x'.repeat(10000) + '\\nafter\\n'); console.error('oops');
       ${LISTEN_SCRIPT}`,
    );
    const supervisor = supervise([config]);
    await supervisor.start();
    await waitUntil('the output is logged', () => logged(/^after$/) !== undefined && logged(/^oops$/) !== undefined);
    const long = logged(/^x+/)!;
    assert.ok(String(long.msg).length <= 4097, `line of ${String(long.msg).length} characters`);
    assert.equal(long.level, 30);
    assert.equal(logged(/^oops$/)?.level, 40);
    assert.equal(logged(/^oops$/)?.['handler'], 'chatty');
    assert.equal(logs.filter((line) => /^x/.test(String(line.msg))).length, 1);
  });

  it('kills a child that never listens when the start timeout passes, then backs off', async () => {
    const supervisor = supervise([handler('mute')], {
      env: { ...process.env, FAKE_HANDLER_NO_LISTEN: '1' },
      supervision: { startTimeoutMs: 400, restartDelayMs: 10_000, maxRestartDelayMs: 10_000 },
    });
    const started = performance.now();
    await supervisor.start();
    const took = performance.now() - started;
    assert.ok(took >= 350 && took < 3000, `start took ${took} ms`);
    assert.equal(supervisor.statusOf('mute')?.state, 'backoff');
    assert.ok(logged(/did not accept within 400 ms/));
    await waitUntil('the child was killed', () => supervisor.statusOf('mute')?.lastExit?.signal === 'SIGKILL');
    assert.equal(supervisor.statusOf('mute')?.pid, null);
  });

  it('replaces a stale socket file', async () => {
    const config = handler('echo');
    makeStaleSocket(config.socketPath);
    assert.ok(fs.lstatSync(config.socketPath).isSocket());
    const supervisor = supervise([config]);
    await supervisor.start();
    assert.equal(supervisor.statusOf('echo')?.state, 'ready');
    assert.ok(logged(/stale handler socket/));
    assert.ok(await callHandler(config.socketPath, {}, CALL));
  });

  it('does not start a second handler where another process serves the socket, and leaves its file', async () => {
    const config = handler('taken');
    const other = net.createServer((socket) => socket.destroy());
    other.on('error', () => {});
    await new Promise<void>((resolve) => other.listen(config.socketPath, resolve));
    try {
      const supervisor = supervise([config], { supervision: { restartDelayMs: 10_000, maxRestartDelayMs: 10_000 } });
      await supervisor.start();
      assert.equal(supervisor.statusOf('taken')?.state, 'backoff');
      assert.equal(supervisor.statusOf('taken')?.pid, null);
      assert.ok(logs.some((line) => line.level === 50 && /another process serves/.test(String(line.msg))));
      await supervisor.stop();
      assert.ok(fs.existsSync(config.socketPath), 'the other process keeps its socket file');
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  });

  it('stop() cancels a start in progress and kills the child', async () => {
    const supervisor = supervise([handler('slow')], {
      env: { ...process.env, FAKE_HANDLER_NO_LISTEN: '1' },
      supervision: { startTimeoutMs: 30_000 },
    });
    let startResolved = false;
    const starting = supervisor.start().then(() => {
      startResolved = true;
    });
    await waitUntil('the child is spawned', () => supervisor.statusOf('slow')?.pid != null);
    const pid = supervisor.statusOf('slow')!.pid!;
    const stopped = performance.now();
    await supervisor.stop();
    await starting;
    assert.ok(startResolved);
    assert.ok(performance.now() - stopped < 3000);
    assert.equal(isAlive(pid), false);
    assert.equal(supervisor.statusOf('slow')?.state, 'stopped');
  });

  it('SIGKILLs a child that ignores SIGTERM after stopTimeoutMs', async () => {
    const config = inlineHandler('stubborn', `process.on('SIGTERM', () => {}); ${LISTEN_SCRIPT}`);
    const supervisor = supervise([config], { supervision: { stopTimeoutMs: 300 } });
    await supervisor.start();
    assert.equal(supervisor.statusOf('stubborn')?.state, 'ready');
    const started = performance.now();
    await supervisor.stop();
    const took = performance.now() - started;
    assert.ok(took >= 280 && took < 3000, `stop took ${took} ms`);
    assert.equal(supervisor.statusOf('stubborn')?.lastExit?.signal, 'SIGKILL');
    assert.equal(fs.existsSync(config.socketPath), false);
  });

  it('resolves start() at once with only external handlers', async () => {
    const supervisor = supervise([{ ...handler('outside'), binary: null }]);
    await supervisor.start();
    assert.equal(supervisor.statusOf('outside')?.state, 'external');
    await supervisor.stop();
    assert.equal(supervisor.statusOf('outside')?.state, 'external');
  });

  it('runs the fake handler, which answers each scripted mode', async () => {
    const config = handler('fake');
    const supervisor = supervise([config]);
    await supervisor.start();
    const call = async (data: unknown, timeoutMs = 3000): Promise<unknown> =>
      (await callHandler(config.socketPath, data, { ...CALL, timeoutMs })).value;
    const code = async (data: unknown, timeoutMs?: number): Promise<string> => {
      try {
        await call(data, timeoutMs);
        return 'resolved';
      } catch (err) {
        return (err as { code: string }).code;
      }
    };
    const sendClients = (status: string, data: unknown, to: unknown = []): unknown => ({
      header: { status, command: { type: 'sendClients', data: to } },
      data,
    });
    assert.deepEqual(await call('plain'), sendClients('0', 'plain'));
    assert.deepEqual(await call({ mode: 'echo', to: ['a'] }), sendClients('0', { mode: 'echo', to: ['a'] }, ['a']));
    assert.deepEqual(await call({ mode: 'status1' }), sendClients('1', { mode: 'status1' }));
    assert.deepEqual(await call({ mode: 'forward', next: 'other' }), {
      header: { status: '0', command: { type: 'sendHandler', data: 'other' } },
      data: { mode: 'forward', next: 'other' },
    });
    assert.deepEqual(await call({ mode: 'spec', to: ['b'] }), {
      header: { status: '0', command: 'sendClients', commandData: ['b'] },
      payload: { data: { mode: 'spec', to: ['b'] } },
    });
    assert.deepEqual(await call({ mode: 'delay', ms: 50 }), sendClients('0', { mode: 'delay', ms: 50 }));
    assert.equal(await code({ mode: 'delay', ms: 500 }, 100), 'handler_timeout');
    assert.equal(await code({ mode: 'hang' }, 100), 'handler_timeout');
    assert.equal(await code({ mode: 'garbage' }), 'handler_bad_reply');
    assert.equal(await code({ mode: 'close' }), 'handler_bad_reply');
    assert.equal(await code({ mode: 'oversize' }), 'handler_bad_reply');
    const pid = supervisor.statusOf('fake')!.pid;
    assert.equal(await code({ mode: 'crash' }), 'handler_bad_reply');
    await waitUntil('the crash is seen', () => supervisor.statusOf('fake')?.lastExit?.code === 3);
    await waitUntil('the handler is back', () => {
      const status = supervisor.statusOf('fake')!;
      return status.state === 'ready' && status.pid !== pid;
    });
    assert.deepEqual(await call('back'), sendClients('0', 'back'));
  });

  it('runs the original-style Python handler, which answers calls and is never poked', async () => {
    const config = handler('py', { binary: PYTHON, args: [ORIGINAL_STYLE] });
    const supervisor = supervise([config]);
    await supervisor.start();
    const status = supervisor.statusOf('py')!;
    assert.equal(status.state, 'ready');

    assert.deepEqual((await callHandler(config.socketPath, { to: 'alice', text: 'hi' }, CALL)).value, {
      header: { status: '0', command: { type: 'sendClients', data: ['alice'] } },
      data: { from_python: true, text: 'hi' },
    });
    assert.deepEqual((await callHandler(config.socketPath, { to: ['a', 'b'], text: 'x', status: '1' }, CALL)).value, {
      header: { status: '1', command: { type: 'sendClients', data: ['a', 'b'] } },
      data: { from_python: true, text: 'x' },
    });
    // It dies on a connection that sends nothing, so the readiness check must not have connected.
    await sleep(300);
    assert.equal(supervisor.statusOf('py')?.pid, status.pid);
    assert.equal(supervisor.statusOf('py')?.restarts, 0);

    await supervisor.stop();
    assert.equal(supervisor.statusOf('py')?.lastExit?.code, 0);
    assert.equal(fs.existsSync(config.socketPath), false);
  });
});

describe('handlers do not outlive their daemon', () => {
  it('a process that exits without stopping its supervisor takes its handlers with it', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bh-exit-'));
    try {
      // A program embedding the supervisor starts a handler, prints its pid and exits at once.
      const script = `
        import { HandlerSupervisor } from ${JSON.stringify(path.join(import.meta.dirname, '..', '..', 'src', 'server', 'handlers', 'supervisor.ts'))};
        import { createLogger } from ${JSON.stringify(path.join(import.meta.dirname, '..', '..', 'src', 'server', 'log.ts'))};
        const config = { type: 'fake', binary: process.execPath, args: [${JSON.stringify(FAKE_HANDLER)}], socketPath: ${JSON.stringify(path.join(tmp, 'h.sock'))} };
        const s = new HandlerSupervisor({ handlers: new Map([['fake', config]]), supervision: ${JSON.stringify(SUPERVISION)}, cwd: ${JSON.stringify(tmp)}, env: {}, logger: createLogger({ level: 'silent' }) });
        await s.start();
        console.log(s.statusOf('fake').pid);
        process.exit(0);`;
      const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(result.status, 0, result.stderr);
      const pid = Number(result.stdout.trim());
      assert.ok(pid > 0, `a handler pid: ${result.stdout} ${result.stderr}`);
      for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(40);
      const alive = isAlive(pid);
      if (alive) process.kill(pid, 'SIGKILL'); // not left behind by a failing run
      assert.equal(alive, false, 'the handler was killed when its daemon exited');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

/** A socket file nothing listens on: bound by a process that then exits. */
function makeStaleSocket(socketPath: string): void {
  const result = spawnSync(process.execPath, [
    '-e',
    `require('node:net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'));`,
    socketPath,
  ]);
  assert.equal(result.signal, 'SIGKILL');
}
