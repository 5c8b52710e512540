// What a reload changes (docs/operations.md, "Reloading the configuration"): the running config
// compared with the one just loaded, sorted into what the daemon applies while running and what
// only a restart can change. Pure: the reloader (src/server/reload.ts) acts on the result.
import { isDeepStrictEqual } from 'node:util';
import type { HandlerConfig, ListenerConfig, ServerConfig, TlsMaterialConfig } from './types.ts';

export interface HandlerChanges {
  /** In the new config only: started. */
  readonly added: readonly string[];
  /** In the old config only: stopped once their calls in progress end. */
  readonly removed: readonly string[];
  /** Their process runs differently (binary, args, socket, working directory): stopped and started again. */
  readonly restarted: readonly string[];
  /** Changed in how the daemon calls them only (timeout, caps, input, protocol): applied to the next call. */
  readonly updated: readonly string[];
}

export interface PeerChanges {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Their links are closed and opened again with the new settings. */
  readonly changed: readonly string[];
}

export interface ConfigChanges {
  /** Keys applied while running, as config paths: "log.level", "limits.maxFrameBytes", "handlers.typeMap.echo", ... */
  readonly applied: readonly string[];
  /** Keys that changed but take effect only when the daemon restarts. */
  readonly restartNeeded: readonly string[];
  readonly logLevel: boolean;
  readonly limits: boolean;
  readonly handlers: HandlerChanges;
  readonly peers: PeerChanges;
  /** Federation settings other than the peers changed: every link is opened again with them. */
  readonly federationSettings: boolean;
}

/** A handler's fields that decide how its process runs: a change restarts it. */
const PROCESS_FIELDS = ['binary', 'args', 'socketPath', 'workingDirectory'] as const;

/** Top-level blocks applied while running, each handled by the reloader or read afresh where used. */
const LIVE_BLOCKS = ['limits', 'liveness', 'supervision', 'shutdown', 'adminInfo'] as const;
/** Blocks (and keys) that only a restart changes: sockets, stores and the node's identity. */
const RESTART_BLOCKS = ['accounts', 'informer', 'offline', 'adminHttp'] as const;
/** TLS material a running listener takes on reload (its files re-read); its other settings need a restart. */
const RELOADED_TLS_KEYS = ['certificate', 'key', 'ca', 'minVersion'] as const;

/** Blocks whose name in the file differs from the typed config's: named as in the file, whole. */
const FILE_NAMES: Readonly<Record<string, string>> = { listeners: 'network', accounts: 'database', adminHttp: 'admin.http', adminInfo: 'admin.info' };

export function diffConfigs(old: ServerConfig, next: ServerConfig): ConfigChanges {
  const applied: string[] = [];
  const restartNeeded: string[] = [];

  const logLevel = old.log.level !== next.log.level;
  if (logLevel) applied.push('log.level');
  for (const block of LIVE_BLOCKS) applied.push(...changedKeys(block, old[block], next[block]));
  for (const block of RESTART_BLOCKS) restartNeeded.push(...changedKeys(block, old[block], next[block]));
  const listeners = diffListeners(old.listeners, next.listeners);
  if (listeners === null) restartNeeded.push('network');
  else applied.push(...listeners);

  const handlers = diffHandlers(old.handlers, next.handlers);
  for (const type of [...handlers.added, ...handlers.removed, ...handlers.restarted, ...handlers.updated]) {
    applied.push(`handlers.typeMap.${type}`);
  }

  const { peers: oldPeers, ...oldFed } = old.federation;
  const { peers: nextPeers, ...nextFed } = next.federation;
  const peers = diffMaps(oldPeers, nextPeers);
  for (const name of [...peers.added, ...peers.removed, ...peers.changed]) applied.push(`federation.peers.${name}`);
  // The node id names this server to its peers and keys its outbox: only a restart changes it.
  if (oldFed.nodeId !== nextFed.nodeId) restartNeeded.push('federation.nodeId');
  const settings = changedKeys('federation', { ...oldFed, nodeId: null }, { ...nextFed, nodeId: null });
  applied.push(...settings);

  return {
    applied,
    restartNeeded,
    logLevel,
    limits: !isDeepStrictEqual(old.limits, next.limits),
    handlers,
    peers: { added: peers.added, removed: peers.removed, changed: peers.changed },
    federationSettings: settings.length > 0,
  };
}

/**
 * The TLS keys changed in listeners that are otherwise the same ("network.tls4.certificate"), or
 * null when a listener was added, removed or changed in anything else (a restart).
 */
function diffListeners(old: readonly ListenerConfig[], next: readonly ListenerConfig[]): string[] | null {
  if (old.length !== next.length) return null;
  const applied: string[] = [];
  for (const [i, before] of old.entries()) {
    const after = next[i]!;
    if (isDeepStrictEqual(before, after)) continue;
    if (!('tls' in before) || !('tls' in after) || before.tls === null || after.tls === null) return null;
    if (!isDeepStrictEqual({ ...before, tls: null }, { ...after, tls: null })) return null;
    const tlsOf = (c: TlsMaterialConfig): Omit<TlsMaterialConfig, (typeof RELOADED_TLS_KEYS)[number]> => {
      const { certificate: _c, key: _k, ca: _a, minVersion: _m, ...rest } = c;
      return rest;
    };
    if (!isDeepStrictEqual(tlsOf(before.tls), tlsOf(after.tls))) return null;
    const a = before.tls;
    const b = after.tls;
    for (const key of RELOADED_TLS_KEYS) if (a[key] !== b[key]) applied.push(`${a.configKey}.${key}`);
  }
  return applied;
}

function diffHandlers(old: ReadonlyMap<string, HandlerConfig>, next: ReadonlyMap<string, HandlerConfig>): HandlerChanges {
  const { added, removed, changed } = diffMaps(old, next);
  const restarted: string[] = [];
  const updated: string[] = [];
  for (const type of changed) {
    const before = old.get(type)!;
    const after = next.get(type)!;
    if (PROCESS_FIELDS.some((field) => !isDeepStrictEqual(before[field], after[field]))) restarted.push(type);
    else updated.push(type);
  }
  return { added, removed, restarted, updated };
}

function diffMaps<V>(old: ReadonlyMap<string, V>, next: ReadonlyMap<string, V>): { added: string[]; removed: string[]; changed: string[] } {
  const added = [...next.keys()].filter((key) => !old.has(key));
  const removed = [...old.keys()].filter((key) => !next.has(key));
  const changed = [...next.keys()].filter((key) => old.has(key) && !isDeepStrictEqual(old.get(key), next.get(key)));
  return { added, removed, changed };
}

/** The keys of `block` whose values differ, as "block.key" (the block itself when it is no plain object). */
function changedKeys(block: string, old: unknown, next: unknown): string[] {
  if (isDeepStrictEqual(old, next)) return [];
  const fileName = FILE_NAMES[block];
  if (fileName !== undefined) return [fileName];
  if (!isRecord(old) || !isRecord(next)) return [block];
  const keys = new Set([...Object.keys(old), ...Object.keys(next)]);
  return [...keys].filter((key) => !isDeepStrictEqual(old[key], next[key])).map((key) => `${block}.${key}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Map);
}
