// Failed-login throttling and the address keys limits are counted under (docs/protocol.md §2.5).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { addressKey, ConnectionGate } from '../../src/server/session/connection-gate.ts';
import { LoginThrottle, throttledReason } from '../../src/server/session/login-throttle.ts';
import { DEFAULT_LIMITS } from '../../src/server/config/defaults.ts';

const LIMITS = { maxPerAddress: 3, maxPerUser: 2, windowMs: 1000, blockMs: 5000 };

function clock(): { now: () => number; advance(ms: number): void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('LoginThrottle', () => {
  test('the attempt after maxPerUser failures is refused for blockMs, then the user starts over', () => {
    const c = clock();
    const t = new LoginThrottle({ limits: LIMITS, now: c.now });
    for (let i = 0; i < 2; i++) {
      assert.equal(t.check(`10.0.0.${i}`, 'alice'), null);
      t.failed(`10.0.0.${i}`, 'alice');
    }
    assert.deepEqual(t.check('10.0.0.9', 'alice'), { by: 'user', retryAfterMs: 5000 });
    c.advance(2000);
    assert.deepEqual(t.check('10.0.0.9', 'alice'), { by: 'user', retryAfterMs: 3000 }, 'the block does not grow with attempts');
    assert.equal(t.check('10.0.0.9', 'bob'), null, 'other users are not affected');
    c.advance(3000);
    assert.equal(t.check('10.0.0.9', 'alice'), null, 'block served');
    t.failed('10.0.0.9', 'alice');
    assert.equal(t.check('10.0.0.9', 'alice'), null, 'counting starts over after a block');
  });

  test('per address: failures for many usernames add up; a success does not reset the address', () => {
    const c = clock();
    const t = new LoginThrottle({ limits: LIMITS, now: c.now });
    for (const user of ['u1', 'u2', null]) {
      assert.equal(t.check('10.1.1.1', user), null);
      t.failed('10.1.1.1', user);
    }
    t.succeeded('carol');
    assert.equal(t.check('10.1.1.1', 'carol')?.by, 'address');
    assert.equal(t.check('10.1.1.2', 'carol'), null, 'another address is independent');
    assert.equal(t.check(null, 'carol'), null, 'a local connection (null address) is not limited per address');
  });

  test('failures older than the window no longer count', () => {
    const c = clock();
    const t = new LoginThrottle({ limits: LIMITS, now: c.now });
    t.failed('a', 'alice');
    c.advance(1001);
    t.failed('a', 'alice');
    assert.equal(t.check('a', 'alice'), null, 'one failure within the window');
  });

  test("a success clears the user's own failures", () => {
    const t = new LoginThrottle({ limits: LIMITS });
    t.failed(null, 'alice');
    t.succeeded('alice');
    t.failed(null, 'alice');
    assert.equal(t.check(null, 'alice'), null);
  });

  test('memory is bounded: at most maxKeys keys per kind, expired ones swept', () => {
    const c = clock();
    const t = new LoginThrottle({ limits: LIMITS, maxKeys: 100, now: c.now });
    for (let i = 0; i < 1000; i++) t.failed(`10.0.${i >> 8}.${i & 255}`, `user${i}`);
    assert.deepEqual(t.size, { addresses: 100, users: 100 });
    c.advance(LIMITS.windowMs + 1);
    t.failed('192.0.2.1', 'late');
    assert.deepEqual(t.size, { addresses: 1, users: 1 }, 'expired entries are swept');
  });

  test('the reason says which limit and when to try again', () => {
    assert.equal(throttledReason({ by: 'address', retryAfterMs: 1500 }), 'too many failed logins from this address; try again in 2 s');
    assert.match(throttledReason({ by: 'user', retryAfterMs: 600_000 }), /for this username; try again in 600 s$/);
  });
});

describe('addressKey', () => {
  test('IPv4 as it is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64, UNIX as null', () => {
    assert.equal(addressKey('192.0.2.7'), '192.0.2.7');
    assert.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(addressKey(undefined), null);
  });
});

describe('ConnectionGate', () => {
  const limits = { ...DEFAULT_LIMITS, maxConnections: 5, maxUnauthenticatedPerAddress: 2 };

  test('per address: connections not logged in yet are capped; logging in frees the place', () => {
    const gate = new ConnectionGate(limits);
    assert.equal(gate.admit('a', 0), null);
    assert.equal(gate.admit('a', 1), null);
    assert.match(gate.admit('a', 2) ?? '', /limits\.maxUnauthenticatedPerAddress = 2/);
    assert.equal(gate.admit('b', 2), null, 'another address is independent');
    assert.equal(gate.admit(null, 3), null, 'local connections are not counted per address');
    gate.loggedInOrGone('a');
    assert.equal(gate.pending('a'), 1);
    assert.equal(gate.admit('a', 3), null);
  });

  test('the total cap counts every open connection', () => {
    const gate = new ConnectionGate(limits);
    assert.match(gate.admit(null, 5) ?? '', /limits\.maxConnections = 5/);
    assert.equal(gate.admit(null, 4), null);
  });
});
