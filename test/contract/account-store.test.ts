// The AccountStore contract (account-store.contract.ts) against the SQLite store and the memory one.
// What only the SQLite store does (file mode, WAL, schema version, sharing a file) is in
// test/component/sqlite-store.test.ts.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import { MemoryAccountStore } from '../../src/server/accounts/memory-store.ts';
import { openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';
import { tempDir } from '../helpers/daemon.ts';
import { accountStoreContract } from './account-store.contract.ts';

const dir = tempDir();
let n = 0;
after(() => rmSync(dir, { recursive: true, force: true }));

accountStoreContract('memory', () => Promise.resolve(new MemoryAccountStore()));
accountStoreContract('sqlite', () => openSqliteAccountStore(path.join(dir, `a${++n}.db`)));
