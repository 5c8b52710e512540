// The account store (account-store.ts) in memory: for tests and embedders that want no file.
// Passwords are hashed exactly as in the SQLite store (password.ts: scrypt, per-user salt), and an
// unknown user costs a dummy check, so it behaves like the SQLite store in every observable way
// except that nothing survives the process.
import { BesterError } from '../../protocol/errors.ts';
import { closedError } from '../storage/store-error.ts';
import {
  checkUsername,
  normalizeUsername,
  requireValidPassword,
  requireValidUsername,
  type AccountStore,
} from './account-store.ts';
import { DUMMY_HASH, hashPassword, verifyPassword } from './password.ts';

export class MemoryAccountStore implements AccountStore {
  /** username -> stored hash (the same string the SQLite store keeps). */
  readonly #users = new Map<string, string>();
  #closed = false;

  #check(): void {
    if (this.#closed) throw closedError('memory account store');
  }

  async verify(username: string, password: string): Promise<boolean> {
    this.#check();
    const name = normalizeUsername(username);
    if (checkUsername(name) !== null || typeof password !== 'string' || password.length === 0) return false;
    const stored = this.#users.get(name);
    if (stored === undefined) {
      await verifyPassword(password, DUMMY_HASH); // same cost as a wrong password
      return false;
    }
    return verifyPassword(password, stored);
  }

  async add(username: string, password: string): Promise<void> {
    this.#check();
    const name = requireValidUsername(username);
    requireValidPassword(password);
    if (this.#users.has(name)) throw new BesterError('store_error', `user ${JSON.stringify(name)} already exists`);
    const hash = await hashPassword(password);
    this.#check();
    // Checked again after the hash: a concurrent add of the same name may have won.
    if (this.#users.has(name)) throw new BesterError('store_error', `user ${JSON.stringify(name)} already exists`);
    this.#users.set(name, hash);
  }

  remove(username: string): Promise<boolean> {
    if (this.#closed) return Promise.reject(closedError('memory account store'));
    return Promise.resolve(this.#users.delete(normalizeUsername(username)));
  }

  async setPassword(username: string, password: string): Promise<boolean> {
    this.#check();
    const name = requireValidUsername(username);
    requireValidPassword(password);
    if (!this.#users.has(name)) return false;
    const hash = await hashPassword(password);
    this.#check();
    if (!this.#users.has(name)) return false; // removed meanwhile
    this.#users.set(name, hash);
    return true;
  }

  has(username: string): Promise<boolean> {
    if (this.#closed) return Promise.reject(closedError('memory account store'));
    return Promise.resolve(this.#users.has(normalizeUsername(username)));
  }

  list(): Promise<string[]> {
    if (this.#closed) return Promise.reject(closedError('memory account store'));
    return Promise.resolve([...this.#users.keys()].sort());
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#users.clear();
    return Promise.resolve();
  }
}
