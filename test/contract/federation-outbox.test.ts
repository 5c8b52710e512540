// The FederationOutbox contract (federation-outbox.contract.ts) against the memory outbox and the
// SQLite one, and what only a durable outbox does: its content and node id survive reopening.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { MemoryFederationOutbox } from '../../src/server/storage/memory-federation-outbox.ts';
import { SqliteFederationOutbox } from '../../src/server/storage/sqlite-federation-outbox.ts';
import { tempDir } from '../helpers/daemon.ts';
import { federationOutboxContract, outboxEntry } from './federation-outbox.contract.ts';

const dir = tempDir();
let n = 0;
after(() => rmSync(dir, { recursive: true, force: true }));

federationOutboxContract('memory', () => Promise.resolve(new MemoryFederationOutbox()));
federationOutboxContract('sqlite', () => Promise.resolve(new SqliteFederationOutbox(path.join(dir, `o${++n}.db`))));

test('SQLite outbox: the node id, the queue and the inbound seqs survive reopening the file', async () => {
  const file = path.join(dir, 'reopen.db');
  let outbox = new SqliteFederationOutbox(file);
  const id = await outbox.nodeId();
  await outbox.enqueue(outboxEntry('p1', 1), { now: 0, ttlMs: 1e9, cap: 10 });
  await outbox.recordInbound('p1', 7);
  await outbox.close();
  outbox = new SqliteFederationOutbox(file);
  assert.equal(await outbox.nodeId(), id);
  assert.deepEqual((await outbox.pending('p1', 0, 10)).map((e) => e.msgId), ['m1']);
  assert.equal((await outbox.enqueue(outboxEntry('p1', 2), { now: 0, ttlMs: 1e9, cap: 10 })).seq, 2);
  assert.equal(await outbox.lastInbound('p1'), 7);
  await outbox.close();
});
