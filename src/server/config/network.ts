// The `network` block: which listeners to open (docs/configuration.md, "network"); and the
// `informer` block, the daemon's other socket (docs/configuration.md, "informer").
import net from 'node:net';
import path from 'node:path';
import {
  DEFAULT_INFORMER,
  DEFAULT_INFORMER_FILE,
  DEFAULT_TCP4_HOST,
  DEFAULT_TCP6_HOST,
  DEFAULT_UNIX_MODE,
} from './defaults.ts';
import { TLS_KEYS, parseTlsMaterial } from './tls.ts';
import type { InformerConfig, ListenerConfig, ListenerKind, TcpListenerConfig, TlsListenerConfig, UnixListenerConfig } from './types.ts';
import { type Checker, type RawObject, MAX_SOCKET_PATH_BYTES, describe, isObject, keyPath, own } from './validate.ts';
import { parseWs } from './ws.ts';

/** Listener kinds in the order used when `network.types` is absent. */
const KINDS: readonly ListenerKind[] = ['unix', 'tcp4', 'tcp6', 'tls4', 'tls6', 'ws', 'wss'];
const KIND_NAMES = KINDS.map((k) => `"${k}"`).join(', ');

export function parseNetwork(c: Checker, value: unknown): ListenerConfig[] {
  if (value === undefined) {
    c.error('network', `required: at least one listener (a block named one of ${KIND_NAMES}) must be configured`);
    return [];
  }
  const network = c.block(value, 'network');
  if (network === undefined) return [];
  c.unknownKeys(network, 'network', ['types', 'requireTls', ...KINDS]);

  const kinds = selectKinds(c, network);
  if (kinds === undefined) return [];
  const listeners: ListenerConfig[] = [];
  for (const kind of kinds) {
    const key = keyPath('network', kind);
    const block = c.block(own(network, kind), key);
    if (block === undefined) continue;
    if (kind === 'unix') listeners.push(parseUnix(c, block, key));
    else if (kind === 'tls4' || kind === 'tls6') listeners.push(parseTls(c, block, key, kind));
    else if (kind === 'ws' || kind === 'wss') listeners.push(parseWs(c, block, key, kind));
    else listeners.push(parseTcp(c, block, key, kind));
  }
  return listeners;
}

/**
 * `network.requireTls`: password logins on plain tcp4/tcp6 listeners are refused (docs/protocol.md
 * §2.7); UNIX sockets stay local and are allowed. Off by default (the original's clients speak plain TCP).
 */
export function parseRequireTls(c: Checker, value: unknown): boolean {
  // parseNetwork reports a network that is not an object.
  return isObject(value) ? c.boolean(own(value, 'requireTls'), 'network.requireTls', false) : false;
}

/** The kinds to open, in order; undefined after an error that makes the rest meaningless. */
function selectKinds(c: Checker, network: RawObject): ListenerKind[] | undefined {
  const present = KINDS.filter((kind) => Object.hasOwn(network, kind));
  const types = own(network, 'types');
  if (types === undefined) {
    if (present.length === 0) {
      c.error('network', `no listener configured: add a block named one of ${KIND_NAMES}`);
    }
    return present;
  }
  if (!Array.isArray(types)) {
    c.error('network.types', `must be an array of ${KIND_NAMES}, got ${describe(types)}`);
    return undefined;
  }
  const kinds: ListenerKind[] = [];
  let ok = true;
  types.forEach((item: unknown, index) => {
    const key = keyPath('network.types', index);
    const kind = KINDS.find((k) => k === item);
    if (kind === undefined) {
      c.error(key, `must be one of ${KIND_NAMES}, got ${describe(item)}`);
      ok = false;
    } else if (kinds.includes(kind)) {
      c.error(key, `"${kind}" is listed twice`);
      ok = false;
    } else {
      kinds.push(kind);
      if (!Object.hasOwn(network, kind)) {
        c.error(keyPath('network', kind), `required because network.types lists "${kind}"`);
      }
    }
  });
  for (const kind of present) {
    if (!kinds.includes(kind)) {
      c.warn(keyPath('network', kind), `present but not listed in network.types (no ${kind} listener is opened)`);
    }
  }
  if (ok && kinds.length === 0) c.error('network.types', 'is empty: no listener configured');
  return kinds;
}

function parseUnix(c: Checker, block: RawObject, key: string): UnixListenerConfig {
  c.unknownKeys(block, key, ['address', 'mode']);
  const addressKey = keyPath(key, 'address');
  const address = own(block, 'address');
  let socketPath = '';
  if (address === undefined) c.error(addressKey, 'required: the path of the socket file');
  else socketPath = c.socketPath(address, addressKey) ?? '';
  return { kind: 'unix', path: socketPath, mode: parseMode(c, own(block, 'mode'), keyPath(key, 'mode')) };
}

/**
 * The `informer` block. Its socket goes beside the daemon's other sockets unless `path` says
 * otherwise: in the folder of the first unix listener, else in the config's folder. Parse it after
 * the listeners and before `checkSockets`, so that its path takes part in the duplicate check.
 */
export function parseInformer(c: Checker, value: unknown, listeners: readonly ListenerConfig[]): InformerConfig {
  const block = c.block(value, 'informer') ?? {};
  c.unknownKeys(block, 'informer', ['enabled', 'path', 'mode', 'allowSendClients', 'allowControl']);
  const rawEnabled = own(block, 'enabled');
  let enabled = c.boolean(rawEnabled, 'informer.enabled', DEFAULT_INFORMER.enabled);
  const unix = listeners.find((l): l is UnixListenerConfig => l.kind === 'unix' && l.path !== '');
  const fallback = path.join(unix === undefined ? c.baseDir : path.dirname(unix.path), DEFAULT_INFORMER_FILE);
  const given = own(block, 'path');
  const bytes = Buffer.byteLength(fallback);
  if (given === undefined && rawEnabled === undefined && bytes > MAX_SOCKET_PATH_BYTES) {
    // A config that never mentions the informer (e.g. the original's, in a deep folder) still loads.
    c.warn('informer', `not opened: its default socket path ${describe(fallback)} is ${bytes} bytes, over the ` +
      `${MAX_SOCKET_PATH_BYTES} a UNIX socket allows; set informer.path to a shorter path`);
    enabled = false;
  }
  // A disabled informer binds nothing: its path is only checked for type.
  const socketPath = enabled ? c.socketPath(given ?? fallback, 'informer.path') : c.filePath(given ?? fallback, 'informer.path');
  return {
    enabled,
    path: socketPath ?? fallback,
    mode: parseMode(c, own(block, 'mode'), 'informer.mode', DEFAULT_INFORMER.mode),
    allowSendClients: c.boolean(own(block, 'allowSendClients'), 'informer.allowSendClients', DEFAULT_INFORMER.allowSendClients),
    allowControl: c.boolean(own(block, 'allowControl'), 'informer.allowControl', DEFAULT_INFORMER.allowControl),
  };
}

/** `"0600"` (octal digits) or a number such as 384 (= 0o600). */
function parseMode(c: Checker, value: unknown, key: string, fallback = DEFAULT_UNIX_MODE): number {
  if (value === undefined) return fallback;
  if (typeof value === 'string' && /^[0-7]{1,4}$/.test(value)) {
    const mode = Number.parseInt(value, 8);
    if (mode <= 0o777) return mode;
  }
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0o777) return value;
  let hint = '';
  if (typeof value === 'number' && /^[0-7]{3,4}$/.test(String(value))) {
    hint = ` (did you mean "${String(value).padStart(4, '0')}"? a number is read as decimal)`;
  }
  c.error(key, `must be a file mode: an octal string such as "0600" or a number 0-511, got ${describe(value)}${hint}`);
  return fallback;
}

/** A TLS listener: a TCP address as for tcp4/tcp6, plus TLS material (config/tls.ts). */
function parseTls(c: Checker, block: RawObject, key: string, kind: 'tls4' | 'tls6'): TlsListenerConfig {
  c.unknownKeys(block, key, ['address', 'port', ...TLS_KEYS]);
  const { host, port } = parseHostPort(c, block, key, kind === 'tls4' ? 'tcp4' : 'tcp6');
  return { kind, host, port, tls: parseTlsMaterial(c, block, key) };
}

function parseTcp(c: Checker, block: RawObject, key: string, kind: 'tcp4' | 'tcp6'): TcpListenerConfig {
  c.unknownKeys(block, key, ['address', 'port']);
  return { kind, ...parseHostPort(c, block, key, kind) };
}

function parseHostPort(c: Checker, block: RawObject, key: string, kind: 'tcp4' | 'tcp6'): { host: string; port: number } {
  const portKey = keyPath(key, 'port');
  const rawPort = own(block, 'port');
  let port = 0;
  if (rawPort === undefined) c.error(portKey, 'required: a port number 0-65535 (a number or a string of digits)');
  else port = parsePort(c, rawPort, portKey);

  const fallback = kind === 'tcp4' ? DEFAULT_TCP4_HOST : DEFAULT_TCP6_HOST;
  const addressKey = keyPath(key, 'address');
  const rawHost = own(block, 'address');
  const host = rawHost === undefined ? fallback : (c.text(rawHost, addressKey, 'a host name or IP address') ?? fallback);
  const other = key.endsWith('4') ? key.replace(/4$/, '6') : key.replace(/6$/, '4');
  if (kind === 'tcp4' && net.isIPv6(host)) {
    c.error(addressKey, `${describe(host)} is an IPv6 address: put it under ${other}`);
  } else if (kind === 'tcp6' && net.isIPv4(host)) {
    c.error(addressKey, `${describe(host)} is an IPv4 address: put it under ${other}`);
  }
  return { host, port };
}

/** The original wrote ports as strings ("2220"); numbers are accepted too. 0 lets the OS pick. */
export function parsePort(c: Checker, value: unknown, key: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 65535) return value;
  if (typeof value === 'string' && /^[0-9]{1,5}$/.test(value)) {
    const port = Number(value);
    if (port <= 65535) return port;
  }
  c.error(key, `must be a port number 0-65535 (a number or a string of digits), got ${describe(value)}`);
  return 0;
}
