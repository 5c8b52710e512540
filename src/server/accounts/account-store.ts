// The account store contract: SQLite (sqlite-store.ts), memory (memory-store.ts), Redis (../redis/account-store.ts); each
// passes test/contract/account-store.contract.ts. Nothing backend-specific belongs here; callers
// (sessions, the `bester user` command) only see this interface.

import { canonicalUsername, usernameKey } from '../../protocol/username.ts';
import { BesterError } from '../../protocol/errors.ts';
import type { AccountsConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';

export interface AccountStore {
  /**
   * True only if the user exists and the password matches. Takes about the same time for an
   * unknown user as for a wrong password (a dummy scrypt runs), so logins do not reveal who exists.
   * The username is normalized first; an invalid username or an empty password gives false.
   */
  verify(username: string, password: string): Promise<boolean>;
  /** Throws BesterError('store_error', 'user "x" already exists') if present; rejects invalid names and empty passwords. */
  add(username: string, password: string): Promise<void>;
  /** False if there was no such user. */
  remove(username: string): Promise<boolean>;
  /** False if there was no such user; rejects an empty password. */
  setPassword(username: string, password: string): Promise<boolean>;
  has(username: string): Promise<boolean>;
  /** All usernames, sorted by UTF-16 code units (JavaScript's default sort), whatever the backend. */
  list(): Promise<string[]>;
  /** Idempotent. Any other call after close rejects with store_error. */
  close(): Promise<void>;
}

export { MAX_USERNAME_LENGTH } from '../../protocol/username.ts';

/**
 * The form usernames are stored and compared in (docs/protocol.md §2.6): the profile's canonical
 * form (trimmed, case-mapped, NFC), so `Alice` and `alice` are one account; an invalid name is
 * only trimmed (it then fails checkUsername and matches no account).
 */
export function normalizeUsername(raw: string): string {
  return usernameKey(raw);
}

/** Null if `name` (already normalized) is an acceptable username, else the reason it is not. */
export function checkUsername(name: string): string | null {
  const canonical = canonicalUsername(name);
  return canonical.ok ? null : canonical.reason;
}

/** Normalizes and checks a username for a write (add, setPassword); throws store_error if it is invalid. */
export function requireValidUsername(raw: string): string {
  const name = normalizeUsername(raw);
  const reason = checkUsername(name);
  if (reason !== null) throw new BesterError('store_error', `invalid username ${JSON.stringify(name)}: ${reason}`);
  return name;
}

/** Throws store_error for a password the store will not save. */
export function requireValidPassword(password: string): void {
  if (typeof password !== 'string' || password.length === 0) {
    throw new BesterError('store_error', 'the password is empty');
  }
}

/** Opens the store the config names. The backend module is loaded only when it is used. */
export async function openAccountStore(config: AccountsConfig, logger?: Logger): Promise<AccountStore> {
  switch (config.kind) {
    case 'sqlite': {
      const { openSqliteAccountStore } = await import('./sqlite-store.ts');
      return openSqliteAccountStore(config.path);
    }
    case 'redis': {
      const { openRedisAccountStore } = await import('../redis/open.ts');
      return openRedisAccountStore(config, logger);
    }
  }
}
