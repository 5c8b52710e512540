// A dead node's delivery re-routed (src/server/presence/rerouter.ts, docs/scaling.md "When a node
// dies") to a user connected nowhere: kept for the next login, and the kept entry names the
// message's sender, id and type when the publisher sent them along the bus (BusKept), as an entry
// kept by the message's own node does (its expiry notice and quotas need them). Real memory stores.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deliveryJson } from '../../src/protocol/builders.ts';
import { MemoryAccountStore } from '../../src/server/accounts/memory-store.ts';
import { parseConfig } from '../../src/server/config/load.ts';
import { silentLogger } from '../../src/server/log.ts';
import { OfflineDelivery } from '../../src/server/offline/offline-delivery.ts';
import { MemoryDeliveryBus } from '../../src/server/presence/memory-delivery-bus.ts';
import { MemoryPresence } from '../../src/server/presence/memory-presence.ts';
import { Rerouter } from '../../src/server/presence/rerouter.ts';
import { SessionRegistry } from '../../src/server/session/registry.ts';
import type { Session } from '../../src/server/session/session.ts';
import { MemoryOfflineQueue } from '../../src/server/storage/memory-offline-queue.ts';
import { tempDir } from '../helpers/daemon.ts';

test('a re-routed delivery kept for a user connected nowhere keeps its sender, id and type', async () => {
  const { config } = parseConfig({ network: { types: ['tcp4'], tcp4: { port: '0', address: '127.0.0.1' } } }, { baseDir: tempDir() });
  const accounts = new MemoryAccountStore();
  await accounts.add('bob', 'pw');
  const registry = new SessionRegistry<Session>();
  const queue = new MemoryOfflineQueue();
  const offline = new OfflineDelivery({ queue, accounts, registry, config: config.offline, logger: silentLogger() });
  const bus = new MemoryDeliveryBus();
  const rerouter = new Rerouter({ nodeId: 'n1', presence: new MemoryPresence(), bus, registry, offline, logger: silentLogger() });
  try {
    const frame = (n: number): string => deliveryJson('chat', { n });
    assert.deepEqual(await rerouter.reroute('dead', { users: ['bob'], frame: frame(1), kept: { type: 'chat', id: 'm-1', sender: 'alice' } }), { ok: true });
    // From a publisher that sent no context (an older node): only the type, read from the frame.
    assert.deepEqual(await rerouter.reroute('dead', { users: ['bob'], frame: frame(2) }), { ok: true });
    const entries = await queue.page('bob', null, 10);
    assert.deepEqual(entries.map((e) => ({ frame: e.frame, type: e.msgType, id: e.msgId, sender: e.sender })), [
      { frame: frame(1), type: 'chat', id: 'm-1', sender: 'alice' },
      { frame: frame(2), type: 'chat', id: null, sender: null },
    ]);
  } finally {
    await offline.close();
    await bus.close();
  }
});
