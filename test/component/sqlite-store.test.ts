import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { BesterError } from '../../src/protocol/errors.ts';
import {
  checkUsername,
  normalizeUsername,
  openAccountStore,
  type AccountStore,
} from '../../src/server/accounts/account-store.ts';
import { SCHEMA_VERSION, openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';

let dir: string;
let counter = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bester-accounts-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function freshPath(): string {
  counter += 1;
  return join(dir, `db-${counter}`, 'accounts.db');
}

async function withStore(fn: (store: AccountStore, path: string) => Promise<void>): Promise<void> {
  const path = freshPath();
  const store = await openAccountStore({ kind: 'sqlite', path });
  try {
    await fn(store, path);
  } finally {
    await store.close();
  }
}

function isStoreError(pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof BesterError, `expected a BesterError, got ${String(err)}`);
    assert.equal(err.code, 'store_error');
    assert.match(err.message, pattern);
    return true;
  };
}

describe('username rules', () => {
  it('trims', () => {
    assert.equal(normalizeUsername('  alice \t\n'), 'alice');
  });

  it('accepts ordinary names up to 64 characters', () => {
    assert.equal(checkUsername('alice'), null);
    assert.equal(checkUsername('Jean-Luc Picard'), null);
    assert.equal(checkUsername('a'.repeat(64)), null);
    assert.equal(checkUsername('😀'.repeat(64)), null); // characters, not UTF-16 units
  });

  it('gives a reason for bad names', () => {
    assert.match(checkUsername('') ?? '', /empty/);
    assert.match(checkUsername('a'.repeat(65)) ?? '', /longer than 64/);
    assert.match(checkUsername('al\u0000ice') ?? '', /control/);
    assert.match(checkUsername('al\nice') ?? '', /control/);
    assert.match(checkUsername('al\u009bice') ?? '', /control/);
    assert.match(checkUsername('\ud800abc') ?? '', /Unicode/);
  });
});

describe('SQLite account store', () => {
  it('adds, verifies, lists, changes a password and removes', async () => {
    await withStore(async (store) => {
      assert.deepEqual(await store.list(), []);
      await store.add('bob', 'bob-pw');
      await store.add('alice', 'alice-pw');
      assert.deepEqual(await store.list(), ['alice', 'bob']);
      assert.equal(await store.has('alice'), true);
      assert.equal(await store.has('carol'), false);

      assert.equal(await store.verify('alice', 'alice-pw'), true);
      assert.equal(await store.verify('alice', 'bob-pw'), false);
      assert.equal(await store.verify('carol', 'alice-pw'), false);
      assert.equal(await store.verify('alice', ''), false);
      assert.equal(await store.verify('', 'alice-pw'), false);

      assert.equal(await store.setPassword('alice', 'new-pw'), true);
      assert.equal(await store.verify('alice', 'alice-pw'), false);
      assert.equal(await store.verify('alice', 'new-pw'), true);
      assert.equal(await store.setPassword('carol', 'pw'), false);

      assert.equal(await store.remove('alice'), true);
      assert.equal(await store.remove('alice'), false);
      assert.equal(await store.has('alice'), false);
      assert.equal(await store.verify('alice', 'new-pw'), false);
      assert.deepEqual(await store.list(), ['bob']);
    });
  });

  it('rejects adding a user twice', async () => {
    await withStore(async (store) => {
      await store.add('alice', 'pw1');
      await assert.rejects(store.add('alice', 'pw2'), isStoreError(/^user "alice" already exists$/));
      await assert.rejects(store.add('  alice ', 'pw2'), isStoreError(/already exists/));
      assert.equal(await store.verify('alice', 'pw1'), true);
    });
  });

  it('trims usernames everywhere', async () => {
    await withStore(async (store) => {
      await store.add('  alice\t', 'pw');
      assert.deepEqual(await store.list(), ['alice']);
      assert.equal(await store.has(' alice '), true);
      assert.equal(await store.verify('alice ', 'pw'), true);
      assert.equal(await store.setPassword(' alice', 'pw2'), true);
      assert.equal(await store.verify('alice', 'pw2'), true);
      assert.equal(await store.remove('\talice'), true);
    });
  });

  it('is case-insensitive by the username profile (docs/protocol.md §2.6), unlike the original', async () => {
    await withStore(async (store) => {
      await store.add('Alice', 'pw');
      assert.deepEqual(await store.list(), ['alice']);
      assert.equal(await store.has('alice'), true);
      assert.equal(await store.verify('alice', 'pw'), true);
    });
  });

  it('rejects invalid usernames and empty passwords', async () => {
    await withStore(async (store) => {
      await assert.rejects(store.add('', 'pw'), isStoreError(/invalid username "": .*empty/));
      await assert.rejects(store.add('   ', 'pw'), isStoreError(/empty/));
      await assert.rejects(store.add('x'.repeat(65), 'pw'), isStoreError(/longer than 64/));
      await assert.rejects(store.add('a\u0007b', 'pw'), isStoreError(/invalid username "a\\u0007b": .*control/));
      await assert.rejects(store.add('alice', ''), isStoreError(/password is empty/));
      await store.add('alice', 'pw');
      await assert.rejects(store.setPassword('alice', ''), isStoreError(/password is empty/));
      await assert.rejects(store.setPassword('a\nb', 'pw'), isStoreError(/control/));
      assert.deepEqual(await store.list(), ['alice']);
      assert.equal(await store.verify('a\u0007b', 'pw'), false);
    });
  });

  it('sorts the list by code units whatever the insertion order', async () => {
    await withStore(async (store) => {
      // Names are case-mapped now (docs/protocol.md §2.6): '_' (U+005F) stands where an upper-case letter stood.
      for (const name of ['zed', '_bob', 'amy', 'émile', '10', '9']) await store.add(name, 'pw');
      assert.deepEqual(await store.list(), ['10', '9', '_bob', 'amy', 'zed', 'émile']);
    });
  });

  it('creates the file (and its folder) with mode 0600, in WAL mode, with a schema version', async () => {
    await withStore(async (store, path) => {
      await store.add('alice', 'pw');
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.equal((await stat(`${path}-wal`)).mode & 0o777, 0o600); // SQLite copies the file's mode
      const db = new DatabaseSync(path, { readOnly: true });
      try {
        assert.equal(db.prepare('PRAGMA journal_mode').get()?.['journal_mode'], 'wal');
        assert.equal(db.prepare('PRAGMA user_version').get()?.['user_version'], SCHEMA_VERSION);
        const row = db.prepare('SELECT * FROM users').get();
        assert.equal(row?.['username'], 'alice');
        assert.match(String(row?.['password_hash']), /^scrypt\$/);
        assert.equal(typeof row?.['created_at'], 'number');
        assert.equal(row?.['created_at'], row?.['updated_at']);
      } finally {
        db.close();
      }
    });
  });

  it('keeps its users and its mode across reopening', async () => {
    const path = freshPath();
    const first = await openSqliteAccountStore(path);
    await first.add('alice', 'pw');
    await first.close();
    const again = await openSqliteAccountStore(path);
    try {
      assert.equal(await again.verify('alice', 'pw'), true);
      assert.equal((await stat(path)).mode & 0o777, 0o600);
    } finally {
      await again.close();
    }
  });

  it('lets two instances share one file (daemon and CLI)', async () => {
    const path = freshPath();
    const daemon = await openSqliteAccountStore(path);
    const cli = await openSqliteAccountStore(path);
    try {
      assert.equal(await daemon.verify('alice', 'pw'), false);
      await cli.add('alice', 'pw');
      assert.equal(await daemon.has('alice'), true);
      assert.equal(await daemon.verify('alice', 'pw'), true);
      await cli.setPassword('alice', 'pw2');
      assert.equal(await daemon.verify('alice', 'pw2'), true);
      await assert.rejects(daemon.add('alice', 'x'), isStoreError(/already exists/));
      assert.equal(await cli.remove('alice'), true);
      assert.equal(await daemon.has('alice'), false);
      assert.deepEqual(await daemon.list(), []);
    } finally {
      await cli.close();
      await daemon.close();
    }
  });

  it('closes idempotently and refuses work afterwards', async () => {
    const store = await openSqliteAccountStore(freshPath());
    await store.close();
    await store.close();
    await assert.rejects(store.has('alice'), isStoreError(/closed/));
    await assert.rejects(store.add('alice', 'pw'), isStoreError(/closed/));
    await assert.rejects(store.verify('alice', 'pw'), isStoreError(/closed/));
  });

  it('refuses a database written by a newer version', async () => {
    const path = freshPath();
    await (await openSqliteAccountStore(path)).close();
    const db = new DatabaseSync(path);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    await assert.rejects(openSqliteAccountStore(path), isStoreError(new RegExp(`schema version ${SCHEMA_VERSION + 1}, newer`)));
  });

  it('reports a file it cannot open as a store_error', async () => {
    const path = join(dir, 'a-folder.db');
    await mkdir(path);
    await assert.rejects(openSqliteAccountStore(path), isStoreError(/cannot open the account database/));
    const notDb = join(dir, 'not-a-db');
    await writeFile(notDb, 'this is not a SQLite file, just text that is long enough to have a header.....');
    await assert.rejects(openSqliteAccountStore(notDb), isStoreError(/not a database/));
    await assert.rejects(openSqliteAccountStore(join(notDb, 'below', 'accounts.db')), isStoreError(/ENOTDIR/));
  });

  it('opens the Redis store the config names, and says which server it cannot reach', async () => {
    // Port 1 on loopback: nothing listens there (test/contract/redis-stores.test.ts uses a real Redis).
    await assert.rejects(
      openAccountStore({ kind: 'redis', url: 'redis://127.0.0.1:1', prefix: 'bester:', nodeId: null, timing: { heartbeatMs: 1000, expiryMs: 5000, ackTimeoutMs: 10_000 } }),
      isStoreError(/cannot connect to Redis at redis:\/\/127\.0\.0\.1:1/));
  });
});

describe('SQLite account store: usernames from before the profile (schema 1 -> 2)', () => {
  it('renames a name stored in another form to its canonical one; a colliding one keeps its row and logs in no one', async () => {
    const path = freshPath();
    await mkdir(dirname(path), { recursive: true });
    // A file as version 1 wrote it: names stored as given, case-sensitive.
    const db = new DatabaseSync(path);
    db.exec(`CREATE TABLE users (username TEXT PRIMARY KEY, password_hash TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) STRICT`);
    db.exec('PRAGMA user_version = 1');
    db.close();
    // Hashes are made by the current store under canonical names, then written back under old names.
    const helper = await openSqliteAccountStore(path.replace(/\.db$/, '-h.db'));
    await helper.add('carol', 'pw-c');
    await helper.add('alice', 'pw-a');
    await helper.close();
    const src = new DatabaseSync(path.replace(/\.db$/, '-h.db'));
    const hash = (name: string): string => String(src.prepare('SELECT password_hash FROM users WHERE username = ?').get(name)?.['password_hash']);
    const old = new DatabaseSync(path);
    const insert = old.prepare('INSERT INTO users VALUES (?, ?, 0, 0)');
    insert.run('Carol', hash('carol'));
    insert.run('alice', hash('alice'));
    insert.run('ALICE', hash('carol'));
    old.close();
    src.close();
    const store = await openSqliteAccountStore(path);
    try {
      assert.deepEqual(await store.list(), ['ALICE', 'alice', 'carol']);
      assert.equal(await store.verify('Carol', 'pw-c'), true, 'Carol became carol and still logs in');
      assert.equal(await store.verify('ALICE', 'pw-c'), false, 'the colliding row matches no login');
      assert.equal(await store.verify('alice', 'pw-a'), true);
    } finally {
      await store.close();
    }
  });
});
