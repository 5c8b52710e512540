// Checking a client login's credentials (docs/protocol.md §2.2, §2.3). The session's state
// machine (session.ts) decides what follows; this only answers "who is it", or null.
import type { Credentials } from '../../protocol/messages.ts';
import { checkUsername, normalizeUsername, type AccountStore } from '../accounts/account-store.ts';

/** The one answer for an unknown user and a wrong password alike (§2.3). */
export const AUTH_FAILED_REASON = 'authentication failed: unknown user or wrong password';

/** The normalized username of a login, or null when there is none or it is not a valid name. */
export function wellFormedName(credentials: Credentials | null): string | null {
  if (!credentials) return null;
  const username = normalizeUsername(credentials.username);
  return checkUsername(username) === null ? username : null;
}

/** The user the credentials prove, or null. Rejects only when the store fails. */
export async function authenticate(accounts: AccountStore, credentials: Credentials | null): Promise<string | null> {
  if (!credentials) return null;
  const username = normalizeUsername(credentials.username);
  // §2.2: empty username or password fails, like the original; the store checks the rest.
  if (checkUsername(username) !== null || credentials.password === '') return null;
  return (await accounts.verify(username, credentials.password)) ? username : null;
}
