// Reconnect policy of the client SDK: exponential backoff with jitter, a bounded number of attempts.

export interface ReconnectOptions {
  /** Delay before the first attempt (ms). Default 200. */
  readonly initialDelayMs?: number;
  /** Largest delay between attempts (ms). Default 10,000. */
  readonly maxDelayMs?: number;
  /** Attempts after one disconnect before giving up. Default Infinity. */
  readonly maxAttempts?: number;
}

export interface ReconnectPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly maxAttempts: number;
}

export function readReconnectOptions(option: boolean | ReconnectOptions | undefined): ReconnectPolicy | null {
  if (option === undefined || option === false) return null;
  const given = option === true ? {} : option;
  const policy = {
    initialDelayMs: given.initialDelayMs ?? 200,
    maxDelayMs: given.maxDelayMs ?? 10_000,
    maxAttempts: given.maxAttempts ?? Infinity,
  };
  if (!(policy.initialDelayMs >= 0) || !(policy.maxDelayMs >= policy.initialDelayMs) || !(policy.maxAttempts >= 1)) {
    throw new RangeError('reconnect: need 0 <= initialDelayMs <= maxDelayMs and maxAttempts >= 1');
  }
  return policy;
}

/** The wait before attempt n (from 1): initial * 2^(n-1), capped, then between half and all of it. */
export function backoffDelay(policy: ReconnectPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(base / 2 + (base / 2) * random());
}
