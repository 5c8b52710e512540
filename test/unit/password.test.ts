import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_SCRYPT_PARAMS,
  DUMMY_HASH,
  hashPassword,
  needsRehash,
  parseHash,
  verifyPassword,
} from '../../src/server/accounts/password.ts';

// Cheap parameters keep the suite fast where the cost itself is not under test.
const FAST = { N: 1024, r: 8, p: 1 };

describe('password hashing', () => {
  it('verifies the password it hashed, with the default parameters in the stored form', async () => {
    const stored = await hashPassword('correct horse');
    assert.match(stored, /^scrypt\$N=16384,r=8,p=1\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/);
    assert.equal(await verifyPassword('correct horse', stored), true);
  });

  it('rejects a wrong password', async () => {
    const stored = await hashPassword('correct horse', FAST);
    assert.equal(await verifyPassword('correct hors', stored), false);
    assert.equal(await verifyPassword('', stored), false);
    assert.equal(await verifyPassword('correct horse ', stored), false);
  });

  it('salts each hash differently', async () => {
    const a = await hashPassword('same', FAST);
    const b = await hashPassword('same', FAST);
    assert.notEqual(a, b);
    assert.notDeepEqual(parseHash(a)?.salt, parseHash(b)?.salt);
    assert.equal(await verifyPassword('same', a), true);
    assert.equal(await verifyPassword('same', b), true);
  });

  it('handles non-ASCII passwords', async () => {
    const stored = await hashPassword('pässwörd ✓ 🔑', FAST);
    assert.equal(await verifyPassword('pässwörd ✓ 🔑', stored), true);
    assert.equal(await verifyPassword('passwörd ✓ 🔑', stored), false);
  });

  it('reads the parameters back from the stored string and verifies with them', async () => {
    const stored = await hashPassword('pw', FAST);
    const parsed = parseHash(stored);
    assert.ok(parsed);
    assert.deepEqual(parsed.params, FAST);
    assert.equal(parsed.salt.length, 16);
    assert.equal(parsed.hash.length, 32);
    assert.equal(await verifyPassword('pw', stored), true);
    assert.deepEqual(parseHash(DUMMY_HASH)?.params, DEFAULT_SCRYPT_PARAMS);
  });

  it('says when a hash was made with weaker parameters than the current ones', async () => {
    assert.equal(needsRehash(await hashPassword('pw', FAST)), true);
    assert.equal(needsRehash(await hashPassword('pw')), false);
    assert.equal(needsRehash('garbage'), true);
  });

  it('returns false, never throws, for malformed stored strings', async () => {
    const good = await hashPassword('pw', FAST);
    const [, params, salt, hash] = good.split('$');
    const malformed = [
      '',
      'pw',
      'scrypt',
      `bcrypt$${params}$${salt}$${hash}`,
      `scrypt$${params}$${salt}`,
      `scrypt$${params}$${salt}$${hash}$extra`,
      `scrypt$N=1000,r=8,p=1$${salt}$${hash}`, // N not a power of two
      `scrypt$N=0,r=8,p=1$${salt}$${hash}`,
      `scrypt$N=1024,r=0,p=1$${salt}$${hash}`,
      `scrypt$N=1024,r=8,p=0$${salt}$${hash}`,
      `scrypt$N=1073741824,r=8,p=1$${salt}$${hash}`, // would need 128 GiB
      `scrypt$N=1024,r=8$${salt}$${hash}`,
      `scrypt$r=8,N=1024,p=1$${salt}$${hash}`,
      `scrypt$${params}$$${hash}`,
      `scrypt$${params}$${salt}$`,
      `scrypt$${params}$not base64!$${hash}`,
      `scrypt$${params}$${salt}$${hash}%`,
      `scrypt$${params}$AAAA$${hash}`, // salt too short
      `scrypt$${params}$${salt}$AAAA`, // hash too short
    ];
    for (const stored of malformed) {
      assert.equal(parseHash(stored), null, stored);
      assert.equal(await verifyPassword('pw', stored), false, stored);
    }
    // Not even a string (a corrupted row): still false.
    assert.equal(await verifyPassword('pw', null as unknown as string), false);
  });

  it('refuses to hash with invalid parameters', async () => {
    await assert.rejects(hashPassword('pw', { N: 1000, r: 8, p: 1 }), RangeError);
  });

  it('no password matches the dummy hash used for unknown users', async () => {
    assert.equal(await verifyPassword('', DUMMY_HASH), false);
    assert.equal(await verifyPassword('password', DUMMY_HASH), false);
  });
});
