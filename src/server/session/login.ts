// The login step (docs/protocol.md §2.2–§2.5), as one piece: the failed-login throttle, the
// password check, and the per-user connection cap. The session's state machine (session.ts) asks;
// this answers who it is, or why not, with the code and reason the client is told.
import type { ErrorCode } from '../../protocol/errors.ts';
import type { Credentials } from '../../protocol/messages.ts';
import { checkUsername, normalizeUsername, type AccountStore } from '../accounts/account-store.ts';
import type { LoginQueueLimits } from '../config/types.ts';
import type { LoginOutcome } from '../events.ts';
import { LoginQueue } from './login-queue.ts';
import type { SessionRegistry } from './registry.ts';
import type { SessionContext } from './session-context.ts';
import { throttledReason, type FailedLoginThrottle } from './login-throttle.ts';

/** The one answer for an unknown user and a wrong password alike (§2.3). */
export const AUTH_FAILED_REASON = 'authentication failed: unknown user or wrong password';

/** The normalized username of a login, or null when there is none or it is not a valid name. */
function wellFormedName(credentials: Credentials | null): string | null {
  if (!credentials) return null;
  const username = normalizeUsername(credentials.username);
  return checkUsername(username) === null ? username : null;
}

/** The user the credentials prove, or null. Rejects only when the store fails. */
async function authenticate(accounts: AccountStore, credentials: Credentials | null): Promise<string | null> {
  if (!credentials) return null;
  const username = normalizeUsername(credentials.username);
  // §2.2: empty username or password fails, like the original; the store checks the rest.
  if (checkUsername(username) !== null || credentials.password === '') return null;
  return (await accounts.verify(username, credentials.password)) ? username : null;
}

export type LoginDecision =
  | { readonly ok: true; readonly user: string }
  | {
      readonly ok: false;
      readonly outcome: Exclude<LoginOutcome, 'ok'>;
      readonly code: ErrorCode;
      readonly reason: string;
      /** The well-formed name that was tried, for logs (null when there was none). */
      readonly user: string | null;
    };

export interface LoginOptions {
  readonly accounts: AccountStore;
  readonly registry: SessionRegistry;
  /** limits.maxSessionsPerUser. */
  readonly maxSessionsPerUser: number;
  /** Failed logins per address and per username (§2.5); absent: not throttled. */
  readonly throttle?: FailedLoginThrottle;
  /** Password checks running and waiting (§2.5, login-queue.ts); absent: unbounded. */
  readonly checks?: LoginQueueLimits;
}

/** The key password checks of local (UNIX-socket) connections share: the OS does not tell Node which process is there. */
const LOCAL_KEY = 'local';

const BUSY = 'the server is busy checking other logins; try again in a moment';

const STORE_FAILED = Symbol('store failed');
type StoreFailed = typeof STORE_FAILED;

/** The login step made from a session context's own fields, for one that brings none (embedders, tests). */
export function contextLogin(ctx: Pick<SessionContext, 'accounts' | 'registry' | 'config' | 'throttle'>): Login {
  const { maxSessionsPerUser, loginChecks } = ctx.config.limits;
  return new Login({ accounts: ctx.accounts, registry: ctx.registry, maxSessionsPerUser, checks: loginChecks, ...(ctx.throttle ? { throttle: ctx.throttle } : {}) });
}

export class Login {
  #o: LoginOptions;
  readonly #queue: LoginQueue | null;

  constructor(options: LoginOptions) {
    this.#o = options;
    const { throttle, checks } = options;
    this.#queue = checks === undefined ? null : new LoginQueue(checks, (key) => (key === LOCAL_KEY ? 0 : (throttle?.failuresOf(key) ?? 0)));
  }

  /** A reload changed limits.maxSessionsPerUser or limits.loginChecks: they apply to the next login. */
  reconfigure(limits: { readonly maxSessionsPerUser: number; readonly checks: LoginQueueLimits }): void {
    this.#o = { ...this.#o, maxSessionsPerUser: limits.maxSessionsPerUser, checks: limits.checks };
    this.#queue?.reconfigure(limits.checks);
  }

  /**
   * Throttle, then password (§2.5: a throttled address or username is refused before the password
   * is looked at), the password check waiting its turn in the queue of checks. Never rejects: a
   * store failure is a `store_error` decision, no room in the queue `server_busy`. `alive()` false
   * when the check's turn comes (the connection closed): it is not run. The per-user cap is not
   * checked here: `admit()` does that in the same turn as the session joins the registry.
   */
  async check(credentials: Credentials | null, address: string | null, alive: () => boolean = () => true): Promise<LoginDecision> {
    const { throttle, accounts } = this.#o;
    const attempted = wellFormedName(credentials);
    const refusal = (await throttle?.check(address, attempted)) ?? null;
    if (refusal !== null) return { ok: false, outcome: 'throttled', code: 'login_throttled', reason: throttledReason(refusal), user: attempted };
    const verify = (): Promise<string | null | StoreFailed> => authenticate(accounts, credentials).catch(() => STORE_FAILED);
    const user = this.#queue === null ? await verify() : await this.#queue.run(address ?? LOCAL_KEY, alive, verify);
    if (user === 'busy' || user === 'gone') return { ok: false, outcome: 'busy', code: 'server_busy', reason: BUSY, user: attempted };
    if (user === STORE_FAILED) {
      return { ok: false, outcome: 'error', code: 'store_error', reason: 'the account store is unavailable, try again later', user: attempted };
    }
    if (user === null) {
      await throttle?.failed(address, attempted);
      return { ok: false, outcome: 'failed', code: 'auth_failed', reason: AUTH_FAILED_REASON, user: attempted };
    }
    await throttle?.succeeded(user);
    return { ok: true, user };
  }

  /** §2.5 limits.maxSessionsPerUser: null when `user` may hold one more connection, else the refusal. */
  admit(user: string): LoginDecision | null {
    const max = this.#o.maxSessionsPerUser;
    if (this.#o.registry.connectionsOf(user).size < max) return null;
    const reason = `this user already has ${max} connections, the most allowed (limits.maxSessionsPerUser)`;
    return { ok: false, outcome: 'refused', code: 'too_many_connections', reason, user };
  }
}
