// Reloading the configuration while clients are busy (docs/operations.md, "Reloading the
// configuration"): nobody is dropped, new limits are in force, removed handlers stop, added ones
// answer, and a config with errors is refused with the running one kept. Real daemon, real
// handler processes, real sockets.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ServerEventMap } from '../../src/server/events.ts';
import { createLogger } from '../../src/server/log.ts';
import { connectInformer } from '../../src/sdk/informer.ts';
import { rawConfig, startTestDaemon, writeTestConfig, type TestDaemon, type TestDaemonOptions } from '../helpers/daemon.ts';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';
import { isAlive } from '../helpers/besterd-process.ts';

interface Report {
  header: { status?: string; code?: string; reason?: string };
  payload: { id?: string };
}

/** The daemon's log lines, kept to see the level change. */
const logLines: Array<{ level: number; msg: string; component?: string }> = [];
const logger = createLogger({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line) as (typeof logLines)[number]) });
const DEBUG = 20;

const BASE: TestDaemonOptions = {
  configFile: true,
  logger,
  handlers: { echo: {}, gone: {} },
  users: { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw' },
  extra: { limits: { maxSessionsPerUser: 4, maxFrameBytes: 65536, maxLoginFrameBytes: 4096 } },
};


async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return check();
}

/** One logged-in client sending `echo` messages one after another until stopped; counts what came back. */
class Sender {
  sent = 0;
  good = 0;
  readonly other: Report[] = [];
  #stop = false;
  readonly done: Promise<void>;

  readonly client: RawClient;
  readonly name: string;

  constructor(client: RawClient, name: string) {
    this.client = client;
    this.name = name;
    this.done = this.#run();
  }

  async #run(): Promise<void> {
    for (let i = 0; i < 100_000 && !this.#stop; i++) {
      this.client.send(message('echo', `${this.name}-${i}`, { to: [], n: i }));
      this.sent++;
      const report = (await this.client.next(10_000)) as Report | null;
      if (report === null) return;
      if (report.header.status === 'good') this.good++;
      else this.other.push(report);
    }
  }

  stop(): Promise<void> {
    this.#stop = true;
    return this.done;
  }
}

describe('reload under load', () => {
  let d: TestDaemon;
  const reloads: Array<ServerEventMap['config.reload']> = [];
  const senders: Sender[] = [];
  const extra: RawClient[] = [];

  const as = async (user: string): Promise<RawClient> => {
    const { client, answer } = await loggedIn({ port: d.port }, user, `${user}-pw`);
    assert.equal((answer as Report).header.status, 'good', `${user} logs in`);
    extra.push(client);
    return client;
  };
  const ask = async (client: RawClient, type: string, data: unknown): Promise<Report> => {
    client.send(message(type, `q-${type}`, data));
    return (await client.next()) as Report;
  };
  const rewrite = (options: TestDaemonOptions): void => void writeTestConfig(d.dir, rawConfig(d.dir, options));

  before(async () => {
    d = await startTestDaemon(BASE);
    d.server.events.on('config.reload', (e) => reloads.push(e));
    for (const user of ['alice', 'alice', 'bob', 'carol']) senders.push(new Sender(await as(user), user));
  });
  after(async () => {
    await Promise.all(senders.map((s) => s.stop()));
    for (const c of extra) c.close();
    await d.close();
  });

  test('a changed config is applied while four clients keep sending, and none is dropped', async () => {
    const idleBob = await as('bob'); // logged in before the reload: the new frame limit reaches it too
    assert.equal(logLines.filter((l) => l.level === DEBUG).length, 0, 'no debug lines at level info');
    const gonePid = d.server.handlerStatus().find((h) => h.type === 'gone')?.pid;
    assert.ok(typeof gonePid === 'number' && isAlive(gonePid), 'the handler to remove runs');
    await until(() => senders.every((s) => s.good >= 20), 10_000);

    rewrite({
      ...BASE,
      handlers: { echo: { timeoutMs: 7000 }, fresh: {} },
      extra: { limits: { maxSessionsPerUser: 2, maxFrameBytes: 4096, maxLoginFrameBytes: 4096 }, log: { level: 'debug' } },
    });
    const result = await d.server.reload();
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.ok(result.ok);
    for (const key of ['log.level', 'limits.maxSessionsPerUser', 'limits.maxFrameBytes', 'handlers.typeMap.echo', 'handlers.typeMap.gone', 'handlers.typeMap.fresh']) {
      assert.ok(result.applied.includes(key), `${key} applied: ${result.applied.join(', ')}`);
    }
    assert.deepEqual(result.restartNeeded, []);

    // The removed handler's process is stopped; its type is unknown now. The added one answers.
    assert.ok(await until(() => !isAlive(gonePid), 5000), 'the removed handler process exited');
    const probe = await as('carol');
    // log.level "debug" reached the loggers made before the reload (sessions log their opening at debug).
    assert.ok(logLines.some((l) => l.level === DEBUG && l.component === 'session' && l.msg === 'connection opened'), 'debug lines after the reload');
    assert.equal((await ask(probe, 'gone', { to: [] })).header.code, 'unknown_type');
    assert.equal((await ask(probe, 'fresh', { to: [] })).header.status, 'good');
    assert.deepEqual(d.server.handlerStatus().map((h) => h.type), ['echo', 'fresh']);

    // The new limits are in force: alice already holds two connections, the most allowed now; a
    // connection logged in before the reload has the smaller frame limit.
    const third = await loggedIn({ port: d.port }, 'alice', 'alice-pw');
    extra.push(third.client);
    assert.equal((third.answer as Report).header.code, 'too_many_connections');
    idleBob.send(message('echo', 'big', { to: [], text: 'x'.repeat(8000) }));
    assert.equal(((await idleBob.next()) as Report).header.code, 'frame_too_large');

    // Every sender went on through the reload: nothing refused, nobody disconnected.
    const before = senders.map((s) => s.good);
    assert.ok(await until(() => senders.every((s, i) => s.good >= before[i]! + 20), 10_000), 'senders keep going after the reload');
    for (const s of senders) {
      assert.equal(s.client.closed, false, `${s.name}'s connection stays open`);
      assert.deepEqual(s.other, [], `${s.name} got only good reports`);
    }
    assert.equal(reloads.at(-1)?.outcome, 'applied');
  });

  test('a config with errors is refused, counted, and the running one kept', async () => {
    const running = d.server.config;
    const refusedBefore = reloads.filter((e) => e.outcome === 'refused').length;

    writeTestConfig(d.dir, '{ "network": ');
    const broken = await d.server.reload();
    assert.equal(broken.ok, false);
    assert.ok(!broken.ok);
    assert.match(broken.errors.join('\n'), /invalid JSON/);

    rewrite({ ...BASE, extra: { limits: { maxFrameBytes: -1 } } });
    const invalid = await d.server.reload();
    assert.ok(!invalid.ok);
    assert.match(invalid.errors.join('\n'), /limits\.maxFrameBytes/);

    assert.equal(d.server.config, running, 'the running config is kept');
    assert.equal(reloads.filter((e) => e.outcome === 'refused').length, refusedBefore + 2);
    const probe = await as('bob');
    assert.equal((await ask(probe, 'fresh', { to: [] })).header.status, 'good', 'the handlers of the running config still answer');
    for (const s of senders) assert.equal(s.client.closed, false);
  });

  test('what only a restart can change is named, and the rest applied', async () => {
    rewrite({
      ...BASE,
      handlers: { echo: { timeoutMs: 7000 }, fresh: {} },
      listeners: ['tcp4'],
      extra: { limits: { maxSessionsPerUser: 3, maxFrameBytes: 4096, maxLoginFrameBytes: 4096 }, log: { level: 'debug' } },
    });
    const result = await d.server.reload();
    assert.ok(result.ok);
    assert.deepEqual(result.applied, ['limits.maxSessionsPerUser']);
    assert.deepEqual(result.restartNeeded, ['network']);
    assert.equal(d.server.config.limits.maxSessionsPerUser, 3);
    assert.equal(d.server.config.listeners.length, 2, 'the listeners that run are the ones in force');
  });
});

describe('reload through the informer', () => {
  test('reload and restartHandler answer in order, and are refused when informer.allowControl is false', async () => {
    const on = await startTestDaemon({ configFile: true, handlers: { echo: {} } });
    const off = await startTestDaemon({ configFile: true, handlers: { echo: {} }, extra: { informer: { allowControl: false } } });
    try {
      const informer = await connectInformer(on.server.informerPath!);
      // Sent together: the answers come back in the order asked, the slow reload first.
      const [reloaded, online, restarted] = await Promise.all([informer.reload(), informer.listClients(), informer.restartHandler('echo')]);
      assert.deepEqual(reloaded, { applied: [], restartNeeded: [] });
      assert.deepEqual(online, []);
      assert.equal(restarted, undefined);
      await informer.close();

      const refused = await connectInformer(off.server.informerPath!);
      await assert.rejects(refused.reload(), /disabled by the server's configuration \(informer\.allowControl\)/);
      await assert.rejects(refused.restartHandler('echo'), /informer\.allowControl/);
      assert.deepEqual(await refused.listClients(), [], 'the connection stays usable');
      await refused.close();
    } finally {
      await on.close();
      await off.close();
    }
  });
});
