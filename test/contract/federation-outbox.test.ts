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

test('SQLite outbox: a file from before the fingerprints gets their columns, and keeps its seqs', async () => {
  const { DatabaseSync } = await import('node:sqlite');
  const file = path.join(dir, 'old.db');
  const db = new DatabaseSync(file);
  db.exec('CREATE TABLE federation_next_seq (peer TEXT PRIMARY KEY, next_seq INTEGER NOT NULL) STRICT');
  db.exec('CREATE TABLE federation_inbound (peer TEXT PRIMARY KEY, last_seq INTEGER NOT NULL) STRICT');
  db.exec("INSERT INTO federation_next_seq VALUES ('p1', 8)");
  db.exec("INSERT INTO federation_inbound VALUES ('p1', 7)");
  db.close();
  const outbox = new SqliteFederationOutbox(file);
  assert.deepEqual(await outbox.inboundMark('p1'), { seq: 7, digest: '' });
  assert.deepEqual(await outbox.outboundMark('p1'), { top: 7, acked: 0, digest: '' });
  assert.equal((await outbox.enqueue(outboxEntry('p1', 1), { now: 0, ttlMs: 1e9, cap: 10 })).seq, 8);
  await outbox.close();
});
