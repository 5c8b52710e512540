// The informer's serverInfo answer (docs/protocol.md §9.4.3), validated: the original's three
// fields are required (clientCount may come as a number from other implementations); ours are kept
// only when they have the documented type, so an older daemon simply lacks them.
import { isObject, own, type JsonObject } from '../protocol/json.ts';

export interface HandlerInfo {
  readonly type: string;
  readonly state: string;
  readonly pid: number | null;
  readonly restarts: number;
  readonly managed: boolean;
  /** What the daemon speaks with the handler now ("unknown": not negotiated yet); absent from older daemons. */
  readonly protocol?: 'original' | 'multiplex' | 'unknown';
  /** Open multiplex/1 connections to it; absent from older daemons. */
  readonly connections?: number;
}

export interface ServerInfo {
  /** Client connections, as a string (the original's type). */
  readonly clientCount: string;
  /** The config's admin.info, or null. */
  readonly adminInfo: unknown;
  /** listener0, listener1, ... in config order. */
  readonly listeners: Record<string, { address: string }>;
  readonly version?: string;
  readonly startedAt?: string;
  readonly uptimeSeconds?: number;
  readonly connections?: number;
  readonly users?: number;
  readonly handlers?: HandlerInfo[];
  readonly informer?: string;
  /** Connections closed since the daemon started, by reason; absent from older daemons. */
  readonly closes?: Record<string, number>;
  /** Login attempts by outcome (ok, failed, throttled, refused, error); absent from older daemons. */
  readonly logins?: Record<string, number>;
  /** Client messages answered, by outcome (good or the code); absent from older daemons. */
  readonly messages?: Record<string, number>;
}

function readHandler(value: unknown): HandlerInfo | null {
  if (!isObject(value)) return null;
  const type = own(value, 'type');
  const state = own(value, 'state');
  const pid = own(value, 'pid');
  const restarts = own(value, 'restarts');
  const managed = own(value, 'managed');
  if (typeof type !== 'string' || typeof state !== 'string' || typeof restarts !== 'number' || typeof managed !== 'boolean') return null;
  if (pid !== null && typeof pid !== 'number') return null;
  const protocol = own(value, 'protocol');
  const connections = own(value, 'connections');
  const known = protocol === 'original' || protocol === 'multiplex' || protocol === 'unknown';
  const counted = typeof connections === 'number' && Number.isSafeInteger(connections) && connections >= 0;
  return { type, state, pid, restarts, managed, ...(known ? { protocol } : {}), ...(counted ? { connections } : {}) };
}

function pick<T>(obj: JsonObject, key: string, check: (v: unknown) => v is T): Record<string, T> {
  const value = own(obj, key);
  return check(value) ? { [key]: value } : {};
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
/** A plain object of counts (closes, logins, messages): every member a whole number. */
const isCounts = (v: unknown): v is Record<string, number> =>
  isObject(v) && Object.keys(v).every((k) => Number.isSafeInteger(own(v, k)));

/** The typed serverInfo, or null when the original's fields are missing. */
export function readServerInfo(data: unknown): ServerInfo | null {
  if (!isObject(data)) return null;
  const count = own(data, 'clientCount');
  if (typeof count !== 'string' && typeof count !== 'number') return null;
  const rawListeners = own(data, 'listeners');
  if (!isObject(rawListeners)) return null;
  const listeners: Record<string, { address: string }> = {};
  for (const name of Object.keys(rawListeners)) {
    const entry = own(rawListeners, name);
    const address = isObject(entry) ? own(entry, 'address') : undefined;
    if (typeof address === 'string') Object.defineProperty(listeners, name, { value: { address }, enumerable: true, writable: true, configurable: true });
  }
  const rawHandlers = own(data, 'handlers');
  const handlers = Array.isArray(rawHandlers) ? rawHandlers.map(readHandler).filter((h) => h !== null) : undefined;
  return {
    clientCount: String(count),
    adminInfo: own(data, 'adminInfo') ?? null,
    listeners,
    ...pick(data, 'version', isString),
    ...pick(data, 'startedAt', isString),
    ...pick(data, 'uptimeSeconds', isNumber),
    ...pick(data, 'connections', isNumber),
    ...pick(data, 'users', isNumber),
    ...(handlers !== undefined ? { handlers } : {}),
    ...pick(data, 'informer', isString),
    ...pick(data, 'closes', isCounts),
    ...pick(data, 'logins', isCounts),
    ...pick(data, 'messages', isCounts),
  };
}
