// The admin HTTP listener (docs/operations.md, "Metrics and health"): a real daemon with a real
// handler process; real traffic (logins, messages good and bad, a delivery kept offline), then
// /metrics is scraped and each counter must have moved by exactly what was sent. /readyz follows a
// handler killed and restarted, and a store that stops answering. Off by default.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../../src/server/config/load.ts';
import { createLogger } from '../../src/server/log.ts';
import { startServer } from '../../src/server/server.ts';
import { MemoryOfflineQueue } from '../../src/server/storage/memory-offline-queue.ts';
import { openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';
import { rawConfig, startTestDaemon, tempDir, type TestDaemon } from '../helpers/daemon.ts';
import { loggedIn, message, type RawClient } from '../helpers/raw-client.ts';
import { rmSync } from 'node:fs';

type Labels = Record<string, string>;
interface Sample {
  readonly name: string;
  readonly labels: Labels;
  readonly value: number;
}

/** The samples of a Prometheus text exposition (comments skipped). */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `a sample line: ${line}`);
    const labels: Labels = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The sum of the samples named `name` whose labels include `labels`. */
function sum(samples: readonly Sample[], name: string, labels: Labels = {}): number {
  let total = 0;
  for (const s of samples) {
    if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

async function get(url: string, init: RequestInit = {}): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/** Polls `check` every 20 ms for at most `timeoutMs`; returns whether it became true. */
async function eventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

describe('admin HTTP: /metrics after real traffic, /healthz, /readyz', () => {
  let d: TestDaemon;
  let base: string;
  const clients: RawClient[] = [];
  const scrape = async (): Promise<Sample[]> => {
    const res = await get(`${base}/metrics`);
    assert.equal(res.status, 200);
    return parseMetrics(res.body);
  };

  before(async () => {
    d = await startTestDaemon({
      handlers: { fake: {} },
      extra: {
        admin: { http: { port: 0 } },
        // Long enough to scrape /readyz while the killed handler waits for its restart.
        supervision: { restartDelayMs: 1500, maxRestartDelayMs: 1500, startTimeoutMs: 10000, stopTimeoutMs: 2000 },
      },
    });
    assert.ok(d.server.admin, 'the admin listener is on');
    base = d.server.admin.url;
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
  });
  after(async () => {
    for (const c of clients) c.close();
    await d.close();
  });

  test('logins, messages, handler calls, deliveries and closes move by exactly the amounts sent', async () => {
    const before = await scrape();
    const { client: alice } = await loggedIn({ port: d.port }, 'alice', 'alice-pw');
    const { client: bob } = await loggedIn({ port: d.port }, 'bob', 'bob-pw');
    clients.push(alice, bob);
    for (let i = 0; i < 2; i++) {
      const { client } = await loggedIn({ port: d.port }, 'alice', 'wrong');
      clients.push(client);
    }
    // Three to bob (queued on his connection), one to carol (offline: kept), one the handler drops
    // (a handler failure), two of a type nobody handles.
    const sends = [
      message('fake', 'm1', { to: ['bob'] }),
      message('fake', 'm2', { to: ['bob'] }),
      message('fake', 'm3', { to: ['bob'] }),
      message('fake', 'm4', { to: ['carol'] }),
      message('fake', 'm5', { mode: 'close' }),
      message('nosuch', 'm6', {}),
      message('otherwise', 'm7', {}),
    ];
    for (const m of sends) alice.send(m);
    const reports = new Map<string, string>();
    for (let i = 0; i < 20 && reports.size < sends.length; i++) {
      const frame = (await alice.next()) as { header?: { status?: string }; payload?: { id?: string } } | null;
      if (frame?.payload?.id !== undefined && frame.header?.status !== undefined) reports.set(frame.payload.id, frame.header.status);
    }
    assert.deepEqual([...reports.values()].filter((s) => s === 'good').length, 4, `status reports: ${JSON.stringify([...reports])}`);
    for (let i = 0; i < 3; i++) assert.ok(await bob.next(), 'bob receives his three');

    const moved = (after: Sample[], name: string, labels: Labels = {}): number => sum(after, name, labels) - sum(before, name, labels);
    let now: Sample[] = [];
    // The refused logins' connections close after their answer: wait for both closes to be counted.
    await eventually(async () => {
      now = await scrape();
      return moved(now, 'bester_connections_closed_total', { reason: 'auth_failed' }) >= 2;
    });
    assert.equal(moved(now, 'bester_connections_opened_total'), 4);
    assert.equal(moved(now, 'bester_connections_closed_total', { reason: 'auth_failed' }), 2);
    assert.equal(moved(now, 'bester_connections_closed_total'), 2);
    assert.equal(moved(now, 'bester_logins_total', { outcome: 'ok' }), 2);
    assert.equal(moved(now, 'bester_logins_total', { outcome: 'failed' }), 2);
    assert.equal(moved(now, 'bester_logins_total'), 4);
    assert.equal(moved(now, 'bester_messages_total', { type: 'fake', outcome: 'good' }), 4);
    assert.equal(moved(now, 'bester_messages_total', { type: 'fake' }), 5);
    // Unconfigured types share one label value: a client cannot make new series.
    assert.equal(moved(now, 'bester_messages_total', { type: 'other', outcome: 'unknown_type' }), 2);
    assert.equal(now.filter((s) => s.labels.type === 'nosuch' || s.labels.type === 'otherwise').length, 0);
    assert.equal(moved(now, 'bester_messages_total'), 7);
    assert.equal(moved(now, 'bester_handler_calls_total', { type: 'fake', outcome: 'ok' }), 4);
    assert.equal(moved(now, 'bester_handler_calls_total', { type: 'fake' }), 5);
    assert.equal(moved(now, 'bester_handler_call_duration_seconds_count', { type: 'fake' }), 5);
    assert.equal(moved(now, 'bester_handler_call_duration_seconds_bucket', { type: 'fake', le: '+Inf' }), 5);
    assert.ok(moved(now, 'bester_handler_call_duration_seconds_sum', { type: 'fake' }) > 0);
    assert.equal(moved(now, 'bester_delivery_recipients_total', { result: 'queued' }), 3);
    assert.equal(moved(now, 'bester_delivery_recipients_total', { result: 'kept' }), 1);
    assert.equal(moved(now, 'bester_delivery_recipients_total', { result: 'undelivered' }), 0);
    // Gauges, read from the server at scrape time.
    assert.equal(sum(now, 'bester_connections', { listener: 'tcp4', state: 'client' }), 2);
    assert.equal(sum(now, 'bester_connections', { listener: 'unix' }), 0);
    assert.equal(sum(now, 'bester_connections'), 2);
    assert.equal(sum(now, 'bester_users_online'), 2);
    assert.equal(sum(now, 'bester_offline_messages'), 1);
    assert.equal(sum(now, 'bester_handler_calls_in_flight', { type: 'fake' }), 0);
    assert.equal(sum(now, 'bester_handler_state', { type: 'fake', state: 'ready' }), 1);
    assert.equal(sum(now, 'bester_handler_state', { type: 'fake' }), 1);
    assert.equal(sum(now, 'bester_handler_restarts_total', { type: 'fake' }), 0);
    // The process and Node.js metrics, event-loop lag among them.
    for (const name of ['nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_p99_seconds', 'process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes']) {
      assert.ok(now.some((s) => s.name === name), `${name} is exported`);
    }
  });

  test('/healthz answers 200; other paths 404; other methods 405; HEAD has no body', async () => {
    const health = await get(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(JSON.parse(health.body), { status: 'alive' });
    assert.equal((await get(`${base}/`)).status, 404);
    assert.equal((await get(`${base}/metrics/x`)).status, 404);
    const post = await get(`${base}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    const head = await get(`${base}/healthz`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    const metrics = await get(`${base}/metrics?name[]=x`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  });

  test('/readyz: ready; 503 naming the handler while it is down after a kill; ready again once restarted', async () => {
    const ready = await get(`${base}/readyz`);
    assert.equal(ready.status, 200, ready.body);
    assert.deepEqual(JSON.parse(ready.body), {
      ready: true,
      listeners: 'up',
      handlers: { fake: 'ready' },
      stores: { accounts: 'ok', offline: 'ok' },
    });
    const pid = d.server.handlerStatus()[0]?.pid;
    assert.ok(typeof pid === 'number');
    process.kill(pid, 'SIGKILL');
    let report: { ready?: boolean; handlers?: Record<string, string> } = {};
    let status = 0;
    assert.ok(
      await eventually(async () => {
        const res = await get(`${base}/readyz`);
        status = res.status;
        report = JSON.parse(res.body) as typeof report;
        return res.status === 503;
      }),
      'not ready while the handler is down',
    );
    assert.equal(status, 503);
    assert.equal(report.ready, false);
    assert.ok(report.handlers?.fake === 'backoff' || report.handlers?.fake === 'starting', JSON.stringify(report));
    const down = await scrape();
    assert.equal(sum(down, 'bester_handler_state', { type: 'fake', state: 'ready' }), 0);
    assert.ok(await eventually(async () => (await get(`${base}/readyz`)).status === 200, 10_000), 'ready again after the restart');
    const up = await scrape();
    assert.equal(sum(up, 'bester_handler_state', { type: 'fake', state: 'ready' }), 1);
    assert.equal(sum(up, 'bester_handler_restarts_total', { type: 'fake' }), 1);
  });
});

describe('admin HTTP: configuration and lifecycle', () => {
  test('off by default: no admin listener without an admin.http block', async () => {
    const d = await startTestDaemon({ extra: { admin: { info: { name: 'x' } } } });
    try {
      assert.equal(d.server.config.adminHttp, null);
      assert.equal(d.server.admin, null);
    } finally {
      await d.close();
    }
  });

  test('a store that stops answering makes /readyz 503 within its timeout; the listener closes with the daemon', async () => {
    const dir = tempDir();
    class StuckQueue extends MemoryOfflineQueue {
      stuck = false;
      override waiting(user?: string): Promise<number> {
        return this.stuck ? new Promise<number>(() => undefined) : super.waiting(user);
      }
    }
    const queue = new StuckQueue();
    const { config } = parseConfig(rawConfig(dir, { extra: { admin: { http: { address: 'localhost', port: 0 } } } }), { baseDir: dir });
    const store = await openSqliteAccountStore(config.accounts.kind === 'sqlite' ? config.accounts.path : '');
    const logs: Array<{ msg: string; url?: string; level: number }> = [];
    const logger = createLogger({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as (typeof logs)[number]) });
    const server = await startServer(config, { offlineQueue: queue, accounts: store, logger });
    try {
      const url = server.admin?.url ?? '';
      assert.ok(logs.some((l) => l.msg === 'admin HTTP listening' && l.url === url && l.level === 30), 'loopback: an info line, no warning');
      assert.equal((await get(`${url}/readyz`)).status, 200);
      queue.stuck = true;
      const started = Date.now();
      const res = await get(`${url}/readyz`);
      assert.equal(res.status, 503);
      assert.deepEqual((JSON.parse(res.body) as { stores: unknown }).stores, { accounts: 'ok', offline: 'no answer within 1000 ms' });
      assert.ok(Date.now() - started < 3000);
      queue.stuck = false;
      assert.equal((await get(`${url}/readyz`)).status, 200);
    } finally {
      const url = server.admin?.url ?? '';
      await server.close();
      await store.close();
      await queue.close();
      rmSync(dir, { recursive: true, force: true });
      await assert.rejects(fetch(`${url}/healthz`), 'nothing listens after close');
    }
  });

  test('a stopping daemon is not ready while its calls in progress finish; then the listener is gone', async () => {
    const d = await startTestDaemon({ handlers: { fake: {} }, extra: { admin: { http: { port: 0 } } } });
    const url = d.server.admin?.url ?? '';
    const { client } = await loggedIn({ port: d.port }, 'alice', 'alice-pw');
    try {
      assert.equal((await get(`${url}/readyz`)).status, 200);
      client.send(message('fake', 'slow', { mode: 'delay', ms: 1500, to: [] }));
      await new Promise((r) => setTimeout(r, 200)); // the call is in progress
      const closed = d.close();
      const res = await get(`${url}/readyz`);
      assert.equal(res.status, 503);
      assert.equal((JSON.parse(res.body) as { listeners: string }).listeners, 'down');
      assert.equal((await get(`${url}/healthz`)).status, 200, 'alive all the same');
      await closed;
      await assert.rejects(fetch(`${url}/healthz`));
    } finally {
      client.close();
      await d.close();
    }
  });

  test('a port in use: the daemon does not start, says which key, and leaves nothing open', async () => {
    const first = await startTestDaemon({ extra: { admin: { http: { port: 0 } } } });
    const dir = tempDir();
    try {
      const { config } = parseConfig(rawConfig(dir, { extra: { admin: { http: { port: first.server.admin?.port } } } }), { baseDir: dir });
      await assert.rejects(startServer(config), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'config_invalid');
        assert.match(err.message, /^cannot listen on admin\.http 127\.0\.0\.1:\d+: EADDRINUSE$/);
        return true;
      });
      // Its client listeners were closed again: once the port is free, the same config starts.
      await first.close();
      const again = await startServer(config);
      assert.equal(again.admin?.port, config.adminHttp?.port);
      await again.close();
    } finally {
      await first.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an address that is not loopback is used, with a warning', async () => {
    const logs: Array<{ msg: string; level: number }> = [];
    const logger = createLogger({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as (typeof logs)[number]) });
    const d = await startTestDaemon({ extra: { admin: { http: { address: '0.0.0.0', port: 0 } } }, logger });
    try {
      assert.match(d.server.admin?.url ?? '', /^http:\/\/0\.0\.0\.0:\d+$/);
      assert.ok(logs.some((l) => l.level === 40 && l.msg.startsWith('admin HTTP listening on an address that is not loopback')));
      assert.equal((await get(`http://127.0.0.1:${d.server.admin?.port}/healthz`)).status, 200);
    } finally {
      await d.close();
    }
  });
});
