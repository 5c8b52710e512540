// The catch-up (src/server/offline/catch-up.ts, docs/scaling.md "Back from a cut") with real
// sessions over in-memory duplex pairs and a real OfflineDelivery on the memory queue: what another
// node kept for a user connected here is written to every session of theirs, in order, once; live
// deliveries are held behind it (also while the node writes its presence again), bounded by
// limits.maxOutboundBytes (a slow consumer past that); fanOut's contract.
import assert from 'node:assert/strict';
import { duplexPair } from 'node:stream';
import { describe, test } from 'node:test';
import { deliveryJson } from '../../src/protocol/builders.ts';
import { encodeJsonFrame } from '../../src/protocol/frame.ts';
import { MemoryAccountStore } from '../../src/server/accounts/memory-store.ts';
import { parseConfig } from '../../src/server/config/load.ts';
import { silentLogger } from '../../src/server/log.ts';
import { CatchUp, fanOut } from '../../src/server/offline/catch-up.ts';
import { OfflineDelivery } from '../../src/server/offline/offline-delivery.ts';
import { promisedCaller, Router } from '../../src/server/routing/router.ts';
import { SessionRegistry } from '../../src/server/session/registry.ts';
import { Session } from '../../src/server/session/session.ts';
import { MemoryOfflineQueue } from '../../src/server/storage/memory-offline-queue.ts';
import { tempDir } from '../helpers/daemon.ts';
import { login } from '../helpers/raw-client.ts';
import { PAIR_PEER, PairPeer } from '../helpers/pair-peer.ts';

/** The client's end of a pair, with the `n` of each delivery it received. */
class Peer extends PairPeer {
  get deliveries(): number[] {
    return this.frames.filter((f) => f.header['messageType'] === 'receivedMessage').map((f) => (f.payload['data'] as { n: number }).n);
  }
}

const frameOf = (n: number): string => deliveryJson('chat', { n });

async function setup(limits: Record<string, number> = {}) {
  const { config } = parseConfig(
    {
      network: { types: ['tcp4'], tcp4: { port: '0', address: '127.0.0.1' } },
      handlers: { availableTypes: ['t'], typeMap: { t: { unixDomainSocketPath: 't.sock' } } },
      limits,
    },
    { baseDir: tempDir() },
  );
  const accounts = new MemoryAccountStore();
  await accounts.add('bob', 'pw');
  const registry = new SessionRegistry<Session>();
  const queue = new MemoryOfflineQueue();
  const offline = new OfflineDelivery({ queue, accounts, registry, config: config.offline, logger: silentLogger() });
  const router = new Router({ handlers: config.handlers, limits: config.limits, registry, logger: silentLogger(), callHandler: promisedCaller(() => Promise.resolve(null)) });
  const counts = { flushes: 0 };
  // The real offline delivery, its flushes counted.
  const counted = {
    flush: (user: string, target: Parameters<OfflineDelivery['flush']>[1]) => {
      counts.flushes++;
      return offline.flush(user, target);
    },
    idle: (user: string) => offline.idle(user),
  };
  const catchUp = new CatchUp({ offline: counted, sessionsOf: (user) => registry.connectionsOf(user), logger: silentLogger() });
  let ids = 0;
  /** A session logged in as bob (its login flush done: nothing was kept yet). */
  const connect = async (): Promise<Peer> => {
    const [client, server] = duplexPair();
    new Session(server, PAIR_PEER, { config, accounts, registry, router, logger: silentLogger(), offline, onClosed: () => undefined }, ++ids);
    const peer = new Peer(client);
    peer.send(login('bob', 'pw'));
    await peer.waitUntil(() => peer.frames.length >= 1);
    assert.equal(peer.frames[0]!.header['status'], 'good');
    await offline.idle('bob');
    await new Promise((r) => setTimeout(r, 10)); // the login's own hold let go
    return peer;
  };
  /** What another node does: puts a delivery for bob straight into the shared queue. */
  const keptElsewhere = async (n: number): Promise<void> => {
    await queue.put({ user: 'bob', frame: frameOf(n), msgType: 'chat', msgId: `m${n}`, sender: 'alice', origin: null }, { now: Date.now(), ttlMs: 60_000, cap: 100 });
  };
  const live = (n: number): boolean => registry.sendTo('bob', encodeJsonFrame(frameOf(n)));
  return { catchUp, queue, connect, keptElsewhere, live, registry, counts, close: () => offline.close() };
}

describe('catch-up (component)', () => {
  test('what another node kept reaches every session of the user here, in order, once, and leaves the queue', async () => {
    const s = await setup();
    const [a, b] = [await s.connect(), await s.connect()];
    for (const n of [1, 2, 3]) await s.keptElsewhere(n);
    await s.catchUp.user('bob');
    await a.waitUntil(() => a.deliveries.length >= 3);
    await b.waitUntil(() => b.deliveries.length >= 3);
    assert.deepEqual(a.deliveries, [1, 2, 3]);
    assert.deepEqual(b.deliveries, [1, 2, 3]);
    assert.equal(await s.queue.waiting('bob'), 0);
    await s.catchUp.user('bob'); // nothing left: nothing written again
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(a.deliveries, [1, 2, 3]);
    await s.close();
  });

  test('live deliveries wait behind the kept ones, from the moment the node is back until the flush is done', async () => {
    const s = await setup();
    const a = await s.connect();
    for (const n of [1, 2, 3]) await s.keptElsewhere(n);
    const ready = Promise.withResolvers<void>();
    const done = s.catchUp.users(['bob'], ready.promise);
    // Presence names this node again before the flush starts: live deliveries come already.
    assert.equal(s.live(10), true, 'taken (held)');
    assert.equal(s.live(11), true);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(a.deliveries, [], 'held while presence is written again');
    ready.resolve();
    await done;
    await a.waitUntil(() => a.deliveries.length >= 5);
    assert.deepEqual(a.deliveries, [1, 2, 3, 10, 11]);
    s.live(12);
    await a.waitUntil(() => a.deliveries.length >= 6);
    assert.deepEqual(a.deliveries, [1, 2, 3, 10, 11, 12], 'live again once released');
    await s.close();
  });

  test('asked again while it runs (a kept notice), it runs once more: a delivery kept meanwhile is not left for the next login', async () => {
    const s = await setup();
    const a = await s.connect();
    await s.keptElsewhere(1);
    const flushes = s.counts.flushes;
    const first = s.catchUp.user('bob');
    const second = s.catchUp.user('bob'); // returns at once: the run in progress runs again after
    const put = s.keptElsewhere(2); // lands during the first run or before the second
    await Promise.all([first, second, put]);
    assert.equal(s.counts.flushes - flushes, 2, 'ran twice');
    await a.waitUntil(() => a.deliveries.length >= 2);
    assert.deepEqual(a.deliveries, [1, 2]);
    assert.equal(await s.queue.waiting('bob'), 0);
    await s.close();
  });

  test('held bytes are capped at limits.maxOutboundBytes: past that the session is cut off as a slow consumer', async () => {
    const s = await setup({ maxHandlerFrameBytes: 1024, maxOutboundBytes: 8192 });
    const a = await s.connect();
    const ready = Promise.withResolvers<void>();
    const done = s.catchUp.users(['bob'], ready.promise);
    const big = (n: number): boolean => s.registry.sendTo('bob', encodeJsonFrame(deliveryJson('chat', { n, pad: 'x'.repeat(2500) })));
    let taken = 0;
    for (let n = 0; n < 10 && big(n); n++) taken++;
    assert.ok(taken >= 2 && taken < 10, `held ${taken} frames of about 2.5 KB under an 8 KB cap`);
    await a.waitUntil(() => a.ended);
    const error = a.frames.find((f) => f.header['messageType'] === 'error' || f.header['code'] !== undefined);
    assert.match(JSON.stringify(error ?? a.frames), /slow_consumer/);
    ready.resolve();
    await done;
    await s.close();
  });

  test('fanOut: written once every target that took the frame settled; refused only when none took it', () => {
    const calls: Array<(ok: boolean) => void> = [];
    const taking = {
      write: (_f: Buffer, w: (ok: boolean) => void): boolean => {
        calls.push(w);
        return true;
      },
      batchBytes: 100,
    };
    const refusing = { write: () => false, batchBytes: 50 };
    const target = fanOut([taking, refusing, taking]);
    assert.equal(target.batchBytes, 50);
    const results: boolean[] = [];
    assert.equal(target.write(Buffer.from('x'), (ok) => results.push(ok)), true);
    assert.deepEqual(results, []);
    calls[0]!(false);
    assert.deepEqual(results, []);
    calls[1]!(true);
    assert.deepEqual(results, [true]);
    assert.equal(fanOut([refusing]).write(Buffer.from('x'), () => assert.fail('no callback when refused')), false);
  });
});
