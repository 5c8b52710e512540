// Server addresses as people write them (the `--server` option, `connect({ server })`):
//   127.0.0.1:2220   localhost:2220   [::1]:2221   unix:/run/bester.sock   /run/bester.sock
// The daemon's own listener URLs are accepted too: tcp4://127.0.0.1:2220, tcp6://[::1]:2221, unix:///path.
// Over TLS: tls://example.org:2230 (also the listeners' tls4://, tls6://).
// WebSocket URLs (ws://host:port/path, wss://...) select the WebSocket transport (src/sdk/transport.ts).
import { ClientError } from './errors.ts';

/** `tls: true`: the connection is TLS, the server's certificate checked for `host` (docs/protocol.md §2.7). */
export type SocketAddress = { readonly host: string; readonly port: number; readonly tls?: boolean } | { readonly path: string };
export type WebSocketAddress = { readonly url: string };
export type ServerAddress = SocketAddress | WebSocketAddress;

/** sun_path holds 108 bytes with the terminating NUL (STYLE.md #16). */
const MAX_UNIX_PATH_BYTES = 107;

function bad(text: string, why: string): ClientError {
  return new ClientError('bad_address', `bad server address ${JSON.stringify(text)}: ${why}`);
}

function unixAddress(text: string, path: string): ServerAddress {
  if (path === '') throw bad(text, 'the socket path is empty');
  if (path.includes('\0')) throw bad(text, 'the socket path contains a NUL byte');
  const bytes = new TextEncoder().encode(path).length; // TextEncoder, not Buffer: browsers load this module too
  if (bytes > MAX_UNIX_PATH_BYTES) throw bad(text, `the socket path is ${bytes} bytes long (at most ${MAX_UNIX_PATH_BYTES})`);
  return { path };
}

function readPort(text: string, port: string): number {
  if (!/^[0-9]{1,5}$/.test(port)) throw bad(text, port === '' ? 'the port is missing' : `the port ${JSON.stringify(port)} is not a number`);
  const value = Number(port);
  if (value < 1 || value > 65535) throw bad(text, `the port ${value} is out of range (1-65535)`);
  return value;
}

function webSocketAddress(text: string, url: string): WebSocketAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw bad(text, 'not a valid URL');
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw bad(text, 'a WebSocket URL starts with ws:// or wss://');
  if (parsed.hash !== '') throw bad(text, 'a WebSocket URL has no #fragment');
  return { url: parsed.href };
}

/** Reads an address string; throws a ClientError with code 'bad_address' naming what is wrong. */
export function parseServerAddress(text: string): ServerAddress {
  const trimmed = text.trim();
  if (trimmed === '') throw bad(text, 'it is empty');
  if (/^wss?:\/\//i.test(trimmed)) return webSocketAddress(text, trimmed);
  if (trimmed.startsWith('unix://')) return unixAddress(text, trimmed.slice('unix://'.length));
  if (trimmed.startsWith('unix:')) return unixAddress(text, trimmed.slice('unix:'.length));
  if (trimmed.startsWith('/')) return unixAddress(text, trimmed);
  const secure = /^(tls|tls4|tls6):\/\//.test(trimmed);
  const hostPort = trimmed.replace(/^(tcp|tcp4|tcp6|tls|tls4|tls6):\/\//, '');
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close < 0) throw bad(text, 'missing "]" after the IPv6 address');
    const host = hostPort.slice(1, close);
    if (host === '') throw bad(text, 'the host is empty');
    if (hostPort[close + 1] !== ':') throw bad(text, 'expected ":PORT" after "]"');
    return withTls({ host, port: readPort(text, hostPort.slice(close + 2)) }, secure);
  }
  const colon = hostPort.lastIndexOf(':');
  if (colon < 0) throw bad(text, 'expected HOST:PORT, [IPv6]:PORT or unix:PATH');
  const host = hostPort.slice(0, colon);
  if (host === '') throw bad(text, 'the host is empty');
  if (host.includes(':')) throw bad(text, 'put an IPv6 address in brackets, as in [::1]:2221');
  if (/[\s/]/.test(host)) throw bad(text, `the host ${JSON.stringify(host)} is not a host name or address`);
  return withTls({ host, port: readPort(text, hostPort.slice(colon + 1)) }, secure);
}

function withTls(address: { host: string; port: number }, secure: boolean): ServerAddress {
  return secure ? { ...address, tls: true } : address;
}

/** An address given as a string or as an object, checked the same way. */
export function toServerAddress(server: string | ServerAddress): ServerAddress {
  if (typeof server === 'string') return parseServerAddress(server);
  if ('url' in server) return webSocketAddress(server.url, server.url);
  if ('path' in server) return unixAddress(server.path, server.path);
  const text = `${server.host}:${server.port}`;
  if (server.host === '') throw bad(text, 'the host is empty');
  if (!Number.isInteger(server.port) || server.port < 1 || server.port > 65535) throw bad(text, `the port ${server.port} is out of range (1-65535)`);
  return withTls({ host: server.host, port: server.port }, server.tls === true);
}

/** The address as people write it: 127.0.0.1:2220, [::1]:2221, unix:/path, tls://example.org:2230, ws://host:port/path. */
export function formatServerAddress(address: ServerAddress): string {
  if ('url' in address) return address.url;
  if ('path' in address) return `unix:${address.path}`;
  const hostPort = address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
  return address.tls === true ? `tls://${hostPort}` : hostPort;
}
