// The WebSocket listener blocks, network.ws and network.wss (docs/configuration.md "network.ws"):
// where to listen, the URL path upgraded to WebSocket, the browser origins allowed, a folder served
// over HTTP(S), and for wss the TLS material (config/tls.ts).
import { DEFAULT_WS_HOST, DEFAULT_WS_PATH } from './defaults.ts';
import { parsePort } from './network.ts';
import { TLS_KEYS, parseTlsMaterial } from './tls.ts';
import type { WsListenerConfig } from './types.ts';
import { type Checker, type RawObject, describe, keyPath, own } from './validate.ts';

export const WS_KEYS = ['address', 'port', 'path', 'origins', 'static'] as const;

export function parseWs(c: Checker, block: RawObject, key: string, kind: 'ws' | 'wss'): WsListenerConfig {
  c.unknownKeys(block, key, kind === 'wss' ? [...WS_KEYS, ...TLS_KEYS] : [...WS_KEYS]);
  const portKey = keyPath(key, 'port');
  const rawPort = own(block, 'port');
  let port = 0;
  if (rawPort === undefined) c.error(portKey, 'required: a port number 0-65535 (a number or a string of digits)');
  else port = parsePort(c, rawPort, portKey);
  const rawHost = own(block, 'address');
  const host = rawHost === undefined ? DEFAULT_WS_HOST : (c.text(rawHost, keyPath(key, 'address'), 'a host name or IP address') ?? DEFAULT_WS_HOST);
  const rawStatic = own(block, 'static');
  const staticDir = rawStatic === undefined || rawStatic === null ? null : (c.filePath(rawStatic, keyPath(key, 'static')) ?? null);
  return {
    kind,
    host,
    port,
    path: parsePath(c, own(block, 'path'), keyPath(key, 'path')),
    origins: parseOrigins(c, own(block, 'origins'), keyPath(key, 'origins')),
    staticDir,
    tls: kind === 'wss' ? parseTlsMaterial(c, block, key) : null,
  };
}

/** An absolute URL path without query or fragment: "/bester". */
function parsePath(c: Checker, value: unknown, key: string): string {
  if (value === undefined) return DEFAULT_WS_PATH;
  const text = c.text(value, key, 'a URL path starting with "/"');
  if (text === undefined) return DEFAULT_WS_PATH;
  if (!/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/.test(text)) {
    c.error(key, `must be a URL path starting with "/", without "?", "#" or spaces, got ${describe(text)}`);
    return DEFAULT_WS_PATH;
  }
  return text;
}

/** Origins as browsers send them: "https://chat.example.org", "http://localhost:8080" (lower case, no path). */
function parseOrigins(c: Checker, value: unknown, key: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    c.error(key, `must be an array of origins such as "https://chat.example.org", got ${describe(value)}`);
    return [];
  }
  const origins: string[] = [];
  value.forEach((item: unknown, index) => {
    const itemKey = keyPath(key, index);
    const origin = typeof item === 'string' ? originOf(item) : null;
    if (origin === null || origin !== (item as string).toLowerCase()) {
      c.error(itemKey, `must be an origin "http(s)://host[:port]" without a path or a trailing "/", got ${describe(item)}`);
    } else if (!origins.includes(origin)) origins.push(origin);
  });
  return origins;
}

function originOf(text: string): string | null {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : null;
  } catch {
    return null;
  }
}
