// A client that stops reading is cut off with slow_consumer; fan-out to everyone else goes on at
// normal speed (docs/protocol.md §7, STYLE.md #8). 51 connections of one user receive every result
// of a sender's messages; one of them never reads. The latency bound here is loose (p99 under 1 s,
// with the daemon, the handler round trips and all 51 clients in one test process): the proof of
// speed is the benchmark, not this test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, type BesterClient } from '../../src/sdk/client.ts';
import { startTestDaemon } from '../helpers/daemon.ts';
import { loggedIn, RawClient } from '../helpers/raw-client.ts';

const RECEIVERS = 50;
const MESSAGES = 200;
const PAD = 'x'.repeat(32 * 1024);
const WRITE_STALL_MS = 1500;

test('a frozen reader is cut off with slow_consumer while 50 others receive everything, quickly', { timeout: 60_000 }, async (t) => {
  const d = await startTestDaemon({
    handlers: { fan: {} },
    users: { alice: 'alice-pw', r: 'r-pw' },
    // The default byte cap (8 MiB) is more than the test sends to one client: the write-stall timer cuts it.
    extra: { limits: { maxSessionsPerUser: 64, writeStallMs: WRITE_STALL_MS } },
  });
  const receivers: BesterClient[] = [];
  try {
    const latencies: number[] = [];
    const received = new Array<number>(RECEIVERS).fill(0);
    for (let i = 0; i < RECEIVERS; i++) {
      const client = await connect({ server: { port: d.port, host: '127.0.0.1' }, username: 'r', password: 'r-pw' });
      client.on('delivery', (delivery) => {
        const { t } = delivery.data as { t: number };
        latencies.push(Date.now() - t);
        received[i] = (received[i] ?? 0) + 1;
      });
      receivers.push(client);
    }
    // The frozen one: logged in as the same user, then it never reads again.
    const frozen = await loggedIn({ port: d.port }, 'r', 'r-pw');
    frozen.client.socket.pause();
    assert.equal(d.server.registry.connectionsOf('r').size, RECEIVERS + 1);

    const sender = await connect({ server: { path: d.unixPath }, username: 'alice', password: 'alice-pw' });
    let cutAfter: number | null = null; // messages sent when the frozen reader was found cut off
    const started = Date.now();
    for (let n = 0; n < MESSAGES; n++) {
      const report = await sender.send('fan', { to: ['r'], t: Date.now(), n, pad: PAD });
      assert.equal(report.status, 'good', JSON.stringify(report.raw));
      if (cutAfter === null && d.server.registry.connectionsOf('r').size === RECEIVERS) cutAfter = n + 1;
    }
    const sendingMs = Date.now() - started;
    await sender.close();
    // Cut off by the end of the sending, or within two stall periods of it (bytes waiting, none sent).
    const cutDeadline = Date.now() + 2 * WRITE_STALL_MS + 500;
    while (d.server.registry.connectionsOf('r').size > RECEIVERS && Date.now() < cutDeadline) {
      await new Promise((r) => setTimeout(r, 10));
    }

    // Every one of the 50 gets every message (bounded wait).
    const deadline = Date.now() + 10_000;
    while (received.some((n) => n < MESSAGES) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(new Set(received), new Set([MESSAGES]), 'each of the 50 received all messages');

    assert.equal(d.server.registry.connectionsOf('r').size, RECEIVERS, 'the frozen reader was cut off');
    frozen.client.socket.resume();
    assert.ok(await frozen.client.waitClosed(5000), 'its connection is closed');

    assert.equal((await serverInfo(d.server.informerPath ?? '')).closes.slow_consumer, 1);

    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? Infinity;
    const p50 = latencies[Math.floor(latencies.length * 0.5)] ?? Infinity;
    t.diagnostic(`sent ${MESSAGES} x ${PAD.length} B in ${sendingMs} ms; frozen reader cut ${cutAfter === null ? 'after the last' : `after ${cutAfter}`} messages; latency p50 ${p50} ms, p99 ${p99} ms`);
    assert.ok(p99 < 1000, `p99 latency ${p99} ms (p50 ${p50} ms) under the loose bound of 1 s`);
  } finally {
    await Promise.all(receivers.map((c) => c.close()));
    await d.close();
  }
});

async function serverInfo(path: string): Promise<{ closes: Record<string, number> }> {
  const informer = await RawClient.connect({ path });
  try {
    informer.send({ command: { type: 'serverInfo' } });
    const answer = (await informer.next()) as { data: { closes: Record<string, number> } };
    return answer.data;
  } finally {
    informer.close();
  }
}
