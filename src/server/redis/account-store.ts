// The account store (accounts/account-store.ts) on Redis. One hash holds every account: field the
// normalized username (docs/protocol.md §2.6), value JSON with the scrypt hash made exactly as in
// the SQLite store (accounts/password.ts). Never a clear password, never one key per bare username
// (the original's mistake, shared/bester-original.md). HSETNX makes a concurrent add of one name
// fail for all but one caller; a script makes setPassword change only an existing account.
import { BesterError } from '../../protocol/errors.ts';
import {
  checkUsername,
  normalizeUsername,
  requireValidPassword,
  requireValidUsername,
  type AccountStore,
} from '../accounts/account-store.ts';
import { DUMMY_HASH, hashPassword, verifyPassword } from '../accounts/password.ts';
import { LuaScript } from './script.ts';
import { RedisStoreBase, type RedisStoreOptions } from './store-base.ts';

interface AccountRecord {
  readonly hash: string;
  readonly createdAt: number;
  readonly updatedAt: number;
}

const SET_PASSWORD = new LuaScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
local record = cjson.decode(old)
record.hash = ARGV[2]
record.updatedAt = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
return 1`);

/** Usernames read per HSCAN step by list(): the hash is never read in one reply. */
const SCAN_COUNT = 500;

export class RedisAccountStore extends RedisStoreBase implements AccountStore {
  constructor(options: RedisStoreOptions) {
    super('Redis account store', options);
  }

  async verify(username: string, password: string): Promise<boolean> {
    const name = normalizeUsername(username);
    if (checkUsername(name) !== null || typeof password !== 'string' || password.length === 0) return false;
    const raw = await this.run('read a user', () => this.client.hGet(this.keys.accounts(), name));
    const stored = parseRecord(raw)?.hash;
    if (stored === undefined) {
      await verifyPassword(password, DUMMY_HASH); // same cost as a wrong password
      return false;
    }
    return verifyPassword(password, stored);
  }

  async add(username: string, password: string): Promise<void> {
    const name = requireValidUsername(username);
    requireValidPassword(password);
    if (this.closed) await this.run('add a user', () => Promise.resolve());
    const hash = await hashPassword(password);
    const now = Date.now();
    const record: AccountRecord = { hash, createdAt: now, updatedAt: now };
    const added = await this.run('add a user', () => this.client.hSetNX(this.keys.accounts(), name, JSON.stringify(record)));
    if (Number(added) === 0) throw new BesterError('store_error', `user ${JSON.stringify(name)} already exists`);
  }

  async remove(username: string): Promise<boolean> {
    const name = normalizeUsername(username);
    return (await this.run('remove a user', () => this.client.hDel(this.keys.accounts(), name))) > 0;
  }

  async setPassword(username: string, password: string): Promise<boolean> {
    const name = requireValidUsername(username);
    requireValidPassword(password);
    // Cheap existence check first, so an unknown user does not cost a hash; the script decides anyway.
    if (!(await this.has(name))) return false;
    const hash = await hashPassword(password);
    const changed = await this.run('change a password', () => SET_PASSWORD.run(this.client, [this.keys.accounts()], [name, hash, Date.now()]));
    return Number(changed) === 1;
  }

  async has(username: string): Promise<boolean> {
    const name = normalizeUsername(username);
    return (await this.run('read a user', () => this.client.hExists(this.keys.accounts(), name))) === 1;
  }

  async list(): Promise<string[]> {
    return this.run('list users', async () => {
      const names: string[] = [];
      let cursor = '0';
      // HSCAN in steps: a large hash never arrives as one reply (ejabberd #1905 ran out of memory so).
      do {
        const reply = await this.client.sendCommand<[string, string[]]>(['HSCAN', this.keys.accounts(), cursor, 'COUNT', String(SCAN_COUNT)]);
        cursor = String(reply[0]);
        const flat = reply[1];
        for (let i = 0; i < flat.length; i += 2) names.push(String(flat[i]));
      } while (cursor !== '0');
      return [...new Set(names)].sort();
    });
  }
}

function parseRecord(raw: unknown): AccountRecord | null {
  if (typeof raw !== 'string') return null;
  try {
    const value = JSON.parse(raw) as Partial<AccountRecord>;
    return typeof value.hash === 'string' ? (value as AccountRecord) : null;
  } catch {
    return null;
  }
}
