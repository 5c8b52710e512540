// WebSocket listeners ws and wss (docs/protocol.md §1.5, docs/configuration.md "network.ws"): an
// HTTP (HTTPS for wss) server that serves a folder of files and upgrades requests for one path to
// WebSocket (the `ws` package, noServer mode). Each WebSocket becomes a WebSocketDuplex handed to the StreamHandler, so a
// WebSocket session is a session like any other (login deadline, limits, slow-consumer rules).
// Here: the upgrade rules (path, Origin allowlist, subprotocol), and WebSocket ping/pong liveness.
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { BesterError } from '../../protocol/errors.ts';
import type { ListenerConfig, WsListenerConfig } from '../config/types.ts';
import type { Listener, ListenerOptions, PeerInfo, StreamHandler } from './listener.ts';
import { SDK_PREFIX, serveSdk } from './sdk-files.ts';
import { plain, StaticFiles } from './static-files.ts';
import { clientCertificateOptions, loadSecureContext } from './tls-material.ts';
import { WebSocketDuplex } from './websocket-duplex.ts';

/** The WebSocket subprotocol of Bester's messages (docs/protocol.md §1.5). */
export const SUBPROTOCOL = 'bester.v1';

/** When the daemon does not say: the frame limit messages are measured against, and the ping rhythm. */
const FALLBACK_FRAME_BYTES = 1 << 20;
const FALLBACK_PING_MS = 60_000;
const FALLBACK_MISSED_PINGS = 2;

/** The HTTP side is small requests only: headers must come soon, bodies are never read. */
const HTTP_OPTIONS: http.ServerOptions = { requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 5000, maxHeaderSize: 16_384 };

/** How long a TLS handshake may take when the options say nothing (ms). */
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

export async function startWsListener(config: WsListenerConfig, handle: StreamHandler, options: ListenerOptions): Promise<Listener> {
  const files = await openStatic(config);
  if (config.tls === null) return serveWebSockets(http.createServer(HTTP_OPTIONS), { config, scheme: 'ws', secure: false, files, handle, options });
  // wss: HTTPS with the TLS material of config/tls.ts, re-read by reload() as for tls4/tls6.
  const server = https.createServer({
    ...HTTP_OPTIONS,
    ...(await loadSecureContext(config.tls)),
    ...clientCertificateOptions(config.tls),
    handshakeTimeout: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
  });
  server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
    const remote = socket.remoteAddress === undefined ? 'wss' : `${socket.remoteAddress}:${socket.remotePort}`;
    options.onHandshakeError?.({ transport: 'wss', remote, reason: err.message });
  });
  const listener = await serveWebSockets(server, { config, scheme: 'wss', secure: true, files, handle, options });
  let current = config.tls;
  return {
    ...listener,
    async reload(next: ListenerConfig): Promise<void> {
      if (next.kind !== 'wss' || next.tls === null || next.host !== config.host || next.port !== config.port) {
        throw new BesterError('config_invalid', `network.wss: the address or kind of a listener changes only with a restart`);
      }
      if (next.tls.clientCertificates !== current.clientCertificates) {
        throw new BesterError('config_invalid', `${next.tls.configKey}.clientCertificates: changes only with a restart`);
      }
      // Read and checked before anything changes: a failure keeps the context in use.
      server.setSecureContext(await loadSecureContext(next.tls));
      current = next.tls;
    },
  };
}

export interface WebSocketSite {
  readonly config: WsListenerConfig;
  /** 'ws' or 'wss': the listener's kind, the peers' transport and the URL scheme. */
  readonly scheme: 'ws' | 'wss';
  readonly secure: boolean;
  readonly files: StaticFiles | null;
  readonly handle: StreamHandler;
  readonly options: ListenerOptions;
}

/** The folder the config names, checked at start: a missing one is a config error, not 404s later. */
export async function openStatic(config: WsListenerConfig): Promise<StaticFiles | null> {
  if (config.staticDir === null) return null;
  try {
    return await StaticFiles.open(config.staticDir);
  } catch (err) {
    throw new BesterError('config_invalid', `network.${config.kind}.static: cannot serve ${config.staticDir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}

/** Binds `server` (http or https) and serves the site on it: files, and WebSocket sessions on config.path. */
export async function serveWebSockets(server: http.Server, site: WebSocketSite): Promise<Listener> {
  const { config, options, scheme } = site;
  const limit = options.maxFrameBytes ?? FALLBACK_FRAME_BYTES;
  const webSockets = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    // docs/protocol.md §1.5: a message over the limit must reach the session, which answers
    // frame_too_large as over TCP; only one far over it (twice the limit) is cut by `ws` (1009).
    maxPayload: 2 * limit + 65_536,
    // The session checks UTF-8 itself and answers malformed_json, as over TCP.
    skipUTF8Validation: true,
    perMessageDeflate: false,
    handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });
  const streams = new Set<WebSocketDuplex>();
  server.on('request', (req, res) => answerHttp(site, req, res));
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    upgrade(site, webSockets, streams, req, socket as net.Socket, head);
  });
  // A malformed request or a reset connection: answer 400 if the socket still can, else drop it.
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  await bind(server, config, `${scheme}://${host}:${config.port}`);
  const info = server.address() as net.AddressInfo;
  const bound = info.family === 'IPv6' ? `[${info.address}]` : info.address;
  const sweep = pingSweep(streams, options);
  let closing: Promise<void> | null = null;
  return {
    kind: config.kind,
    address: `${scheme}://${bound}:${info.port}`,
    url: `${scheme}://${bound}:${info.port}${config.path}`,
    port: info.port,
    // Open WebSockets stay with their sessions; the server's close completes once they are gone.
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }).then(() => clearInterval(sweep))),
  };
}

function bind(server: http.Server, config: WsListenerConfig, wanted: string): Promise<void> {
  // Errors after listening (rare: EMFILE on accept) must not be thrown as 'error' without a listener.
  server.on('error', () => undefined);
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new BesterError('config_invalid', `cannot listen on ${wanted}: ${err.code ?? err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen({ host: config.host, port: config.port, backlog: 511 }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function answerHttp(site: WebSocketSite, req: http.IncomingMessage, res: http.ServerResponse): void {
  const pathname = pathOf(req.url);
  if (pathname === site.config.path) {
    res.setHeader('Upgrade', 'websocket');
    plain(res, 426, `this is the WebSocket endpoint (subprotocol ${SUBPROTOCOL})`);
  } else if (pathname.startsWith(SDK_PREFIX)) void serveSdk(req, res, pathname);
  else if (site.files === null) plain(res, 404, 'not found');
  else void site.files.serve(req, res);
}

/** The path of a request URL, without query. */
function pathOf(url: string | undefined): string {
  const text = url ?? '/';
  const query = text.indexOf('?');
  return query < 0 ? text : text.slice(0, query);
}

function upgrade(
  site: WebSocketSite,
  webSockets: WebSocketServer,
  streams: Set<WebSocketDuplex>,
  req: http.IncomingMessage,
  socket: net.Socket,
  head: Buffer,
): void {
  socket.on('error', () => undefined); // the stream adds its own; this covers the handshake
  const peer = peerOf(site, socket);
  const refusal = upgradeRefusal(site, req) ?? certificateRefusal(site, socket);
  if (refusal !== null) {
    if (refusal.status !== 404) site.options.refused?.({ transport: peer.transport, remote: peer.remote, reason: refusal.reason });
    refuseUpgrade(socket, refusal.status, refusal.reason);
    return;
  }
  webSockets.handleUpgrade(req, socket, head, (webSocket: WebSocket) => {
    const stream = new WebSocketDuplex(webSocket, socket, { serverFrames: true });
    streams.add(stream);
    stream.once('close', () => streams.delete(stream));
    site.handle(stream, peer);
  });
}

/** Why an upgrade request is refused (HTTP status and reason), or null to accept it. */
function upgradeRefusal(site: WebSocketSite, req: http.IncomingMessage): { status: number; reason: string } | null {
  if (pathOf(req.url) !== site.config.path) return { status: 404, reason: `no WebSocket endpoint here (it is ${site.config.path})` };
  // docs/security.md "WebSocket and Origin": a browser always says which page opened the socket.
  const origin = req.headers.origin;
  if (origin !== undefined && !originAllowed(site, origin, req.headers.host)) {
    return { status: 403, reason: `origin ${JSON.stringify(origin)} is not allowed (network.${site.config.kind}.origins)` };
  }
  // docs/protocol.md §1.5: a client that names subprotocols must name ours; one naming none is accepted.
  const offered = req.headers['sec-websocket-protocol'];
  if (offered !== undefined && !offered.split(',').some((p) => p.trim() === SUBPROTOCOL)) {
    return { status: 400, reason: `unsupported WebSocket subprotocol: this server speaks ${SUBPROTOCOL}` };
  }
  return null;
}

/**
 * wss with clientCertificates "request": a client may come without a certificate, but one it
 * presents must verify (as on tls4/tls6; "require" is refused by the handshake itself).
 */
function certificateRefusal(site: WebSocketSite, socket: net.Socket): { status: number; reason: string } | null {
  if (site.config.tls?.clientCertificates !== 'request') return null;
  const tlsSocket = socket as tls.TLSSocket;
  if (tlsSocket.authorized || Object.keys(tlsSocket.getPeerCertificate()).length === 0) return null;
  return { status: 403, reason: `client certificate refused: ${String(tlsSocket.authorizationError)}` };
}

/** Listed in `origins`, or the listener's own origin (the page it serves itself). */
function originAllowed(site: WebSocketSite, origin: string, host: string | undefined): boolean {
  const wanted = origin.toLowerCase();
  if (site.config.origins.includes(wanted)) return true;
  const own = site.secure ? 'https' : 'http';
  return host !== undefined && wanted === `${own}://${host.toLowerCase()}`;
}

function refuseUpgrade(socket: net.Socket, status: number, reason: string): void {
  const body = `${reason}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nConnection: close\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  const timer = setTimeout(() => socket.destroy(), 2000);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

function peerOf(site: WebSocketSite, socket: net.Socket): PeerInfo {
  const remoteAddress = socket.remoteAddress ?? null;
  const remotePort = socket.remotePort ?? null;
  const commonName = site.secure && (socket as tls.TLSSocket).authorized ? subjectCommonName(socket as tls.TLSSocket) : null;
  return {
    transport: site.scheme,
    remoteAddress,
    remotePort,
    remote: remoteAddress === null ? site.scheme : `${remoteAddress}:${remotePort}`,
    secure: site.secure,
    ...(commonName === null ? {} : { certificateName: commonName }),
  };
}

/** The CN of a verified client certificate's subject (several: the first), as tls4/tls6 give it. */
function subjectCommonName(socket: tls.TLSSocket): string | null {
  const cn = (socket.getPeerCertificate() as Partial<tls.PeerCertificate>).subject?.CN;
  if (cn === undefined) return null;
  return Array.isArray(cn) ? (cn[0] ?? null) : cn;
}

/**
 * docs/protocol.md §5.3 over WebSocket: one timer per listener looks at every WebSocket each
 * pingIntervalMs. One that sent nothing (no message, no pong) since the last look is sent a
 * WebSocket ping; after maxMissedPings such looks in a row it is given up. Browsers answer pings
 * by themselves, so this needs nothing from the page.
 */
function pingSweep(streams: Set<WebSocketDuplex>, options: ListenerOptions): NodeJS.Timeout {
  const maxMissed = options.maxMissedPings ?? FALLBACK_MISSED_PINGS;
  const intervalMs = options.pingIntervalMs ?? FALLBACK_PING_MS;
  const timer = setInterval(() => {
    for (const stream of streams) {
      if (stream.heard) {
        stream.heard = false;
        stream.missedPings = 0;
      } else if (stream.missedPings >= maxMissed) {
        stream.destroy(new Error(`no answer to ${maxMissed} WebSocket pings sent ${intervalMs} ms apart`));
      } else if (stream.webSocket.readyState === stream.webSocket.OPEN) {
        stream.missedPings++;
        stream.webSocket.ping();
      }
    }
  }, intervalMs);
  timer.unref();
  return timer;
}
