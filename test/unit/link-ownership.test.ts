// The lease rounds of federation/link-ownership.ts with a scripted lease store: gained, renewed,
// lost to another node, taken again under a new token, self-fenced when the store stops
// answering, released on close.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { silentLogger } from '../../src/server/log.ts';
import { LinkOwnership, type LinkLease } from '../../src/server/federation/link-ownership.ts';
import { firstKey } from '../../src/server/redis/topology.ts';

class ScriptedLease implements LinkLease {
  holder: number | null = null; // the token "we" hold in the store, or null when another node holds it
  next = 1;
  hang = false;
  released: number[] = [];
  hold(_peer: string, token: number | null): Promise<number | null> {
    if (this.hang) return new Promise(() => undefined);
    if (this.holder === null) return Promise.resolve(null);
    if (token !== null && token === this.holder) return Promise.resolve(token);
    return Promise.resolve(this.holder);
  }
  release(_peer: string, token: number): Promise<void> {
    this.released.push(token);
    return Promise.resolve();
  }
  announce(): Promise<void> {
    return Promise.resolve();
  }
  listen(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

describe('LinkOwnership', () => {
  test('gains, keeps, loses, regains under a new token; releases on close', async () => {
    const lease = new ScriptedLease();
    const changes: string[] = [];
    const own = new LinkOwnership({ lease, leaseMs: 60_000, peers: () => ['p'], changed: (p, o) => changes.push(`${p}:${o}`), logger: silentLogger() });
    await own.tick();
    assert.equal(own.owns('p'), false);
    lease.holder = 7;
    await own.tick();
    await own.tick();
    assert.equal(own.tokenOf('p'), 7);
    lease.holder = null; // another node took it
    await own.tick();
    assert.equal(own.owns('p'), false);
    lease.holder = 9;
    await own.tick();
    assert.deepEqual(changes, ['p:true', 'p:false', 'p:true']);
    await own.close();
    await own.close();
    assert.deepEqual(lease.released, [9]);
  });

  test('a store that stops answering: the link stops before the lease can run out', async () => {
    const lease = new ScriptedLease();
    lease.holder = 1;
    const changes: string[] = [];
    const own = new LinkOwnership({ lease, leaseMs: 300, peers: () => ['p'], changed: (p, o) => changes.push(`${p}:${o}`), logger: silentLogger() });
    try {
      await own.tick();
      assert.equal(own.owns('p'), true);
      lease.hang = true;
      const started = Date.now();
      // Each round waits a third of the lease for an answer; the round that starts once the last
      // renewal is older than 60 % of the lease stops the link (wall time is loose: a shared machine).
      for (let i = 0; i < 20 && own.owns('p'); i++) await own.tick();
      assert.equal(own.owns('p'), false);
      assert.ok(Date.now() - started < 3000, 'stopped after a few rounds');
      assert.deepEqual(changes, ['p:true', 'p:false']);
    } finally {
      await own.close();
    }
  });
});

describe('firstKey (Redis Cluster routing of raw commands)', () => {
  test('scripts, stream reads, groups and plain commands', () => {
    assert.equal(firstKey(['EVALSHA', 'abc', '2', 'k1', 'k2', 'a']), 'k1');
    assert.equal(firstKey(['EVAL', 'src', '0']), undefined);
    assert.equal(firstKey(['XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', '16', 'BLOCK', '1000', 'STREAMS', 's', '>']), 's');
    assert.equal(firstKey(['XGROUP', 'CREATE', 'stream', 'g', '$', 'MKSTREAM']), 'stream');
    assert.equal(firstKey(['SET', 'k', 'v', 'NX', 'GET']), 'k');
    assert.equal(firstKey(['CLIENT', 'PAUSE', '10']), undefined);
  });
});
