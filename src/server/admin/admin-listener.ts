// The admin HTTP listener (docs/operations.md, "Metrics and health"; config key admin.http): GET
// /metrics (Prometheus text), /healthz (alive) and /readyz (ready to serve). Off unless configured;
// loopback by default, and a warning when it is bound anywhere else: it has no authentication.
import http from 'node:http';
import net from 'node:net';
import { BesterError } from '../../protocol/errors.ts';
import type { AdminHttpConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { ServerMetrics } from './metrics.ts';
import type { ReadinessReport } from './readiness.ts';

export interface AdminListenerOptions {
  readonly config: AdminHttpConfig;
  readonly metrics: ServerMetrics;
  readonly readiness: () => Promise<ReadinessReport>;
  readonly logger: Logger;
}

export interface AdminListener {
  /** Where it listens, e.g. http://127.0.0.1:9220 (the bound port: the config may say 0). */
  readonly url: string;
  readonly port: number;
  /** Stops listening and closes its connections (scrapes in progress are cut). Idempotent. */
  close(): Promise<void>;
}

const PATHS = new Set(['/metrics', '/healthz', '/readyz']);
/** Scrapers and probes are few; a connection past this is dropped by Node. */
const MAX_CONNECTIONS = 64;

export async function startAdminListener(options: AdminListenerOptions): Promise<AdminListener> {
  const { config, logger } = options;
  const server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5000, keepAliveTimeout: 5000 }, (req, res) => {
    answer(req, res, options).then(undefined, (err: unknown) => {
      logger.error({ err, path: req.url }, 'admin HTTP request failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  server.maxConnections = MAX_CONNECTIONS;
  // Errors after listening (rare: EMFILE on accept) must not be thrown as 'error' without a listener.
  server.on('error', (err) => logger.warn({ err }, 'admin HTTP listener error'));
  // A malformed request or a reset connection: answer 400 if the socket still can, else drop it.
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new BesterError('config_invalid', `cannot listen on admin.http ${config.host}:${config.port}: ${err.code ?? err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen({ host: config.host, port: config.port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const bound = server.address() as net.AddressInfo;
  const url = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  if (isLoopback(bound.address)) logger.info({ url }, 'admin HTTP listening');
  else logger.warn({ url }, 'admin HTTP listening on an address that is not loopback: whoever can reach it can read the metrics');

  let closing: Promise<void> | null = null;
  return {
    url,
    port: bound.port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

async function answer(req: http.IncomingMessage, res: http.ServerResponse, options: AdminListenerOptions): Promise<void> {
  const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
  if (!PATHS.has(path)) return send(res, 404, 'text/plain; charset=utf-8', 'not found: try /metrics, /healthz or /readyz\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed: use GET\n');
  }
  if (path === '/metrics') return send(res, 200, options.metrics.contentType, await options.metrics.text());
  // Answering at all shows that the process runs and its event loop turns.
  if (path === '/healthz') return send(res, 200, 'application/json', '{"status":"alive"}\n');
  const report = await options.readiness();
  return send(res, report.ready ? 200 : 503, 'application/json', `${JSON.stringify(report)}\n`);
}

function send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body); // Node sends no body for HEAD
}

/** 127.0.0.0/8, ::1, and IPv4 loopback written as IPv6. */
function isLoopback(address: string): boolean {
  if (net.isIPv4(address)) return address.startsWith('127.');
  const lower = address.toLowerCase();
  return lower === '::1' || lower.startsWith('::ffff:127.');
}
