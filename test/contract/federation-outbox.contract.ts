// The contract every FederationOutbox passes (src/server/storage/federation-outbox.ts): memory and
// SQLite and Redis. `open` gives a new, empty outbox; each test opens its own and closes it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FederationOutbox, NewOutboxEntry } from '../../src/server/storage/federation-outbox.ts';
import { allRejectClosed, code } from './store-errors.ts';

export function outboxEntry(peer: string, n: number): NewOutboxEntry {
  return { peer, type: 'chat', msgId: `m${n}`, data: { n, nested: [1, { s: 'é' }], none: null }, origin: 'node-a', hops: 1, sender: 'alice' };
}

export function federationOutboxContract(name: string, open: () => Promise<FederationOutbox>): void {
  async function withOutbox(fn: (outbox: FederationOutbox) => Promise<void>): Promise<void> {
    const outbox = await open();
    try {
      await fn(outbox);
    } finally {
      await outbox.close();
    }
  }
  const options = { now: 1_000_000, ttlMs: 60_000, cap: 100 };

  describe(`FederationOutbox contract: ${name}`, () => {
    test('the node id is stable: the same string on every call', () =>
      withOutbox(async (outbox) => {
        const id = await outbox.nodeId();
        assert.ok(typeof id === 'string' && id.length > 0);
        assert.equal(await outbox.nodeId(), id);
      }));

    test('enqueue gives 1, 2, 3... per peer; every field comes back from pending as it was enqueued', () =>
      withOutbox(async (outbox) => {
        const first = await outbox.enqueue(outboxEntry('p1', 1), options);
        assert.deepEqual(first, { ...outboxEntry('p1', 1), seq: 1, createdAt: options.now, expiresAt: options.now + options.ttlMs });
        assert.equal((await outbox.enqueue(outboxEntry('p1', 2), options)).seq, 2);
        assert.equal((await outbox.enqueue(outboxEntry('p2', 3), options)).seq, 1, 'each peer has its own sequence');
        assert.deepEqual(await outbox.pending('p1', 0, 10), [first, { ...outboxEntry('p1', 2), seq: 2, createdAt: options.now, expiresAt: options.now + options.ttlMs }]);
      }));

    test('pending: after a seq, in order, at most `limit`', () =>
      withOutbox(async (outbox) => {
        for (let i = 1; i <= 5; i++) await outbox.enqueue(outboxEntry('p1', i), options);
        assert.deepEqual((await outbox.pending('p1', 2, 2)).map((e) => e.seq), [3, 4]);
        assert.deepEqual((await outbox.pending('p1', 5, 10)).map((e) => e.seq), []);
        assert.deepEqual(await outbox.pending('nobody', 0, 10), []);
      }));

    test('acknowledge removes one message; sequence numbers are never reused', () =>
      withOutbox(async (outbox) => {
        for (let i = 1; i <= 3; i++) await outbox.enqueue(outboxEntry('p1', i), options);
        await outbox.acknowledge('p1', 3);
        await outbox.acknowledge('p1', 3); // gone already: nothing happens
        await outbox.acknowledge('p1', 1);
        assert.deepEqual((await outbox.pending('p1', 0, 10)).map((e) => e.seq), [2]);
        assert.equal((await outbox.enqueue(outboxEntry('p1', 4), options)).seq, 4);
      }));

    test('the per-peer cap refuses with peer_queue_full; other peers are not affected', () =>
      withOutbox(async (outbox) => {
        const capped = { ...options, cap: 2 };
        await outbox.enqueue(outboxEntry('p1', 1), capped);
        await outbox.enqueue(outboxEntry('p1', 2), capped);
        await assert.rejects(outbox.enqueue(outboxEntry('p1', 3), capped), code('peer_queue_full'));
        await outbox.enqueue(outboxEntry('p2', 1), capped);
        await outbox.acknowledge('p1', 1);
        assert.equal((await outbox.enqueue(outboxEntry('p1', 4), capped)).seq, 3, 'the refused one took no number');
      }));

    test('waiting counts per peer; peers with none are absent', () =>
      withOutbox(async (outbox) => {
        assert.deepEqual(await outbox.waiting(), {});
        for (let i = 1; i <= 3; i++) await outbox.enqueue(outboxEntry('p1', i), options);
        await outbox.enqueue(outboxEntry('p2', 1), options);
        assert.deepEqual(await outbox.waiting(), { p1: 3, p2: 1 });
        await outbox.acknowledge('p2', 1);
        assert.deepEqual(await outbox.waiting(), { p1: 3 });
      }));

    test('takeExpired removes and returns only what is past its TTL, each once', () =>
      withOutbox(async (outbox) => {
        await outbox.enqueue(outboxEntry('p1', 1), { ...options, now: 0, ttlMs: 100 });
        await outbox.enqueue(outboxEntry('p2', 2), { ...options, now: 0, ttlMs: 100 });
        await outbox.enqueue(outboxEntry('p1', 3), { ...options, now: 500, ttlMs: 100 });
        assert.deepEqual(await outbox.takeExpired(99), []);
        const taken = await outbox.takeExpired(100);
        assert.deepEqual(taken.map((e) => `${e.peer}:${e.seq}`).sort(), ['p1:1', 'p2:1']);
        assert.deepEqual(await outbox.takeExpired(100), [], 'nothing twice');
        assert.deepEqual((await outbox.pending('p1', 0, 10)).map((e) => e.seq), [2]);
      }));

    test('lastInbound starts at 0 per peer; recordInbound never lowers it', () =>
      withOutbox(async (outbox) => {
        assert.equal(await outbox.lastInbound('p1'), 0);
        await outbox.recordInbound('p1', 5);
        await outbox.recordInbound('p1', 3);
        await outbox.recordInbound('p2', 1);
        assert.equal(await outbox.lastInbound('p1'), 5);
        assert.equal(await outbox.lastInbound('p2'), 1);
      }));

    test('inboundMark: the highest seq recorded with its fingerprint; a lower seq changes neither', () =>
      withOutbox(async (outbox) => {
        assert.deepEqual(await outbox.inboundMark('p1'), { seq: 0, digest: '' });
        await outbox.recordInbound('p1', 5, 'd5');
        await outbox.recordInbound('p1', 3, 'd3');
        assert.deepEqual(await outbox.inboundMark('p1'), { seq: 5, digest: 'd5' });
        await outbox.recordInbound('p1', 6);
        assert.deepEqual(await outbox.inboundMark('p1'), { seq: 6, digest: '' });
        assert.equal(await outbox.lastInbound('p1'), 6);
      }));

    test('outboundMark: the top seq given, and the highest acknowledgement recorded with a fingerprint', () =>
      withOutbox(async (outbox) => {
        assert.deepEqual(await outbox.outboundMark('p1'), { top: 0, acked: 0, digest: '' });
        for (let i = 1; i <= 4; i++) await outbox.enqueue(outboxEntry('p1', i), options);
        await outbox.acknowledge('p1', 2, 'd2');
        await outbox.acknowledge('p1', 1, 'd1'); // lower: the mark stays
        await outbox.acknowledge('p1', 3); // no fingerprint: removed, the mark stays
        assert.deepEqual(await outbox.outboundMark('p1'), { top: 4, acked: 2, digest: 'd2' });
        assert.deepEqual((await outbox.pending('p1', 0, 10)).map((e) => e.seq), [4]);
      }));

    test('renumber moves waiting messages past a seq, in order, with every other field kept; later seqs follow', () =>
      withOutbox(async (outbox) => {
        for (let i = 1; i <= 4; i++) await outbox.enqueue(outboxEntry('p1', i), options);
        await outbox.enqueue(outboxEntry('p2', 9), options);
        await outbox.acknowledge('p1', 1, 'd1');
        await outbox.acknowledge('p1', 3);
        const top = await outbox.renumber('p1', 100, { seq: 100, digest: 'theirs' });
        const moved = await outbox.pending('p1', 0, 10);
        assert.deepEqual(moved.map((e) => [e.seq, e.msgId]), [[101, 'm2'], [103, 'm4']]);
        assert.equal(top, 103);
        assert.deepEqual(moved[0], { ...outboxEntry('p1', 2), seq: 101, createdAt: options.now, expiresAt: options.now + options.ttlMs });
        assert.deepEqual(await outbox.outboundMark('p1'), { top: 103, acked: 100, digest: 'theirs' });
        assert.equal((await outbox.enqueue(outboxEntry('p1', 5), options)).seq, 104);
        assert.deepEqual((await outbox.pending('p2', 0, 10)).map((e) => e.seq), [1], 'other peers untouched');
        // Never below what was given: renumbering "past 2" still goes past the top.
        await outbox.renumber('p1', 2, { seq: 2, digest: 'x' });
        assert.ok((await outbox.pending('p1', 0, 10)).every((e) => e.seq > 104));
        // Nothing waiting: the next seq still follows the claimed one.
        const empty = await outbox.renumber('p3', 50, { seq: 50, digest: 'y' });
        assert.equal(empty, 50);
        assert.equal((await outbox.enqueue(outboxEntry('p3', 1), options)).seq, 51);
      }));

    test('close is idempotent; every other call afterwards rejects with store_error', async () => {
      const outbox = await open();
      await outbox.enqueue(outboxEntry('p1', 1), options);
      await outbox.close();
      await outbox.close();
      await allRejectClosed({
        nodeId: () => outbox.nodeId(),
        enqueue: () => outbox.enqueue(outboxEntry('p1', 2), options),
        pending: () => outbox.pending('p1', 0, 10),
        acknowledge: () => outbox.acknowledge('p1', 1),
        takeExpired: () => outbox.takeExpired(Number.MAX_SAFE_INTEGER),
        waiting: () => outbox.waiting(),
        lastInbound: () => outbox.lastInbound('p1'),
        recordInbound: () => outbox.recordInbound('p1', 1),
        inboundMark: () => outbox.inboundMark('p1'),
        outboundMark: () => outbox.outboundMark('p1'),
        renumber: () => outbox.renumber('p1', 5, { seq: 5, digest: '' }),
      });
    });
  });
}
