// The `federation` block (docs/configuration.md, docs/federation.md §2): this server's node id,
// its peers with their addresses and shared secrets, and the link and outbox limits.
import { readFileSync } from 'node:fs';
import { DEFAULT_FEDERATION, MIN_PEER_SECRET_LENGTH } from './defaults.ts';
import { parsePort } from './network.ts';
import { parsePeerTls } from './tls.ts';
import type { FederationConfig, PeerConfig } from './types.ts';
import { type Checker, type RawObject, describe, hasControlChars, keyPath, own } from './validate.ts';

const KEYS = [
  'acceptUnauthenticatedServers', 'nodeId', 'peers', 'allowUnlistedTargets', 'maxHops', 'heartbeatMs', 'maxInFlight',
  'outboxTtlMs', 'outboxCap', 'ackWaitMs', 'connectTimeoutMs', 'reconnectDelayMs', 'maxReconnectDelayMs',
] as const;
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function parseFederation(c: Checker, value: unknown): FederationConfig {
  const block = c.block(value, 'federation');
  if (block === undefined) return { ...DEFAULT_FEDERATION, peers: new Map() };
  c.unknownKeys(block, 'federation', KEYS);
  const d = DEFAULT_FEDERATION;
  const int = (key: (typeof KEYS)[number], fallback: number): number => c.integer(own(block, key), `federation.${key}`, fallback);
  const rawNodeId = own(block, 'nodeId');
  let nodeId: string | null = null;
  if (rawNodeId !== undefined) {
    if (typeof rawNodeId === 'string' && NODE_ID.test(rawNodeId)) nodeId = rawNodeId;
    else c.error('federation.nodeId', `must be 1-64 letters, digits, ".", "_" or "-", got ${describe(rawNodeId)}`);
  }
  const config: FederationConfig = {
    acceptUnauthenticatedServers: c.boolean(own(block, 'acceptUnauthenticatedServers'), 'federation.acceptUnauthenticatedServers', d.acceptUnauthenticatedServers),
    nodeId,
    peers: parsePeers(c, own(block, 'peers')),
    allowUnlistedTargets: c.boolean(own(block, 'allowUnlistedTargets'), 'federation.allowUnlistedTargets', d.allowUnlistedTargets),
    maxHops: int('maxHops', d.maxHops),
    heartbeatMs: int('heartbeatMs', d.heartbeatMs),
    maxInFlight: int('maxInFlight', d.maxInFlight),
    outboxTtlMs: int('outboxTtlMs', d.outboxTtlMs),
    outboxCap: int('outboxCap', d.outboxCap),
    ackWaitMs: int('ackWaitMs', d.ackWaitMs),
    connectTimeoutMs: int('connectTimeoutMs', d.connectTimeoutMs),
    reconnectDelayMs: int('reconnectDelayMs', d.reconnectDelayMs),
    maxReconnectDelayMs: int('maxReconnectDelayMs', d.maxReconnectDelayMs),
  };
  if (nodeId !== null && config.peers.has(nodeId)) c.error(keyPath('federation.peers', nodeId), 'is this server\'s own nodeId');
  return config;
}

function parsePeers(c: Checker, value: unknown): Map<string, PeerConfig> {
  const peers = new Map<string, PeerConfig>();
  const block = c.block(value, 'federation.peers');
  if (block === undefined) return peers;
  for (const name of Object.keys(block)) {
    const key = keyPath('federation.peers', name);
    if (!NODE_ID.test(name)) {
      c.error(key, 'a peer name is its node id: 1-64 letters, digits, ".", "_" or "-"');
      continue;
    }
    const entry = c.block(own(block, name), key);
    if (entry !== undefined) peers.set(name, parsePeer(c, entry, key, name));
  }
  return peers;
}

function parsePeer(c: Checker, entry: RawObject, key: string, name: string): PeerConfig {
  c.unknownKeys(entry, key, ['address', 'secret', 'secretFile', 'legacy', 'tls']);
  const legacy = c.boolean(own(entry, 'legacy'), keyPath(key, 'legacy'), false);
  let host: string | null = null;
  let port: number | null = null;
  const address = own(entry, 'address');
  if (address !== undefined) {
    const parsed = typeof address === 'string' ? /^\[([0-9a-fA-F:.]+)\]:(.+)$/.exec(address) ?? /^([^\s:[\]]+):(.+)$/.exec(address) : null;
    if (!parsed) c.error(keyPath(key, 'address'), `must be "host:port" or "[v6]:port", got ${describe(address)}`);
    else {
      host = parsed[1]!;
      port = parsePort(c, parsed[2], keyPath(key, 'address'));
      if (port === 0) c.error(keyPath(key, 'address'), 'port 0 cannot be connected to');
    }
  } else if (legacy) c.error(keyPath(key, 'address'), 'required for a legacy peer (we only ever connect to it)');
  const secret = readSecret(c, entry, key);
  if (secret === null && !legacy) {
    c.error(key, `needs "secret" or "secretFile": frames between servers are authenticated (docs/federation.md), unless "legacy": true`);
  }
  const tls = parsePeerTls(c, own(entry, 'tls'), keyPath(key, 'tls'));
  if (tls !== null && legacy) c.error(keyPath(key, 'tls'), 'a legacy peer speaks the original\'s plain TCP: TLS is for peers that speak ours');
  if (tls !== null && address === undefined) c.warn(keyPath(key, 'tls'), 'unused: the peer has no address, so we never connect to it');
  return { name, host, port, secret, legacy, tls };
}

function readSecret(c: Checker, entry: RawObject, key: string): string | null {
  const inline = own(entry, 'secret');
  const file = own(entry, 'secretFile');
  if (inline !== undefined && file !== undefined) {
    c.error(key, 'give "secret" or "secretFile", not both');
    return null;
  }
  let secret: string | undefined;
  let secretKey = keyPath(key, 'secret');
  if (inline !== undefined) secret = c.text(inline, secretKey, 'a string');
  else if (file !== undefined) {
    secretKey = keyPath(key, 'secretFile');
    const filePath = c.filePath(file, secretKey);
    if (filePath === undefined) return null;
    try {
      secret = readFileSync(filePath, 'utf8').trim();
    } catch (err) {
      c.error(secretKey, `cannot read ${filePath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      return null;
    }
  } else return null;
  if (secret === undefined) return null;
  if (secret.length < MIN_PEER_SECRET_LENGTH || hasControlChars(secret)) {
    c.error(secretKey, `must be at least ${MIN_PEER_SECRET_LENGTH} characters with no control characters (use e.g. \`openssl rand -hex 32\`)`);
    return null;
  }
  return secret;
}
