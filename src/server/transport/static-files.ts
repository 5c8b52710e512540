// The files a WebSocket listener serves over HTTP on its port (docs/configuration.md "network.ws",
// `static`): GET and HEAD of files under one folder, nothing outside it (no "..", no hidden files,
// no symbolic link leading out), 404 for everything else.
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

/** Content-Type by file extension; others are sent as application/octet-stream (with nosniff). */
export const CONTENT_TYPES: ReadonlyMap<string, string> = new Map([
  ['.html', 'text/html; charset=utf-8'],
  ['.js', 'text/javascript; charset=utf-8'],
  ['.mjs', 'text/javascript; charset=utf-8'],
  ['.css', 'text/css; charset=utf-8'],
  ['.json', 'application/json; charset=utf-8'],
  ['.map', 'application/json; charset=utf-8'],
  ['.svg', 'image/svg+xml'],
  ['.png', 'image/png'],
  ['.jpg', 'image/jpeg'],
  ['.jpeg', 'image/jpeg'],
  ['.webp', 'image/webp'],
  ['.ico', 'image/x-icon'],
  ['.txt', 'text/plain; charset=utf-8'],
  ['.woff2', 'font/woff2'],
]);

/** Headers on every answer: no guessing of types, and always asked again (the files change on upgrade). */
const COMMON_HEADERS = Object.freeze({ 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache' });

export class StaticFiles {
  /** The folder, with symbolic links resolved (made absolute by the config). */
  readonly #root: string;

  private constructor(root: string) {
    this.#root = root;
  }

  /** Rejects when `folder` is not a readable folder. */
  static async open(folder: string): Promise<StaticFiles> {
    const root = await realpath(folder);
    if (!(await stat(root)).isDirectory()) throw new Error(`${folder} is not a folder`);
    return new StaticFiles(root);
  }

  /** Answers one request; never rejects (a failure mid-answer destroys the response). */
  async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      await this.#answer(req, res);
    } catch {
      if (!res.headersSent) plain(res, 500, 'internal error');
      else res.destroy();
    }
  }

  async #answer(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      plain(res, 405, 'method not allowed');
      return;
    }
    const file = await this.#resolve(req.url ?? '/');
    if (file === null) {
      plain(res, 404, 'not found');
      return;
    }
    const type = CONTENT_TYPES.get(path.extname(file.path).toLowerCase()) ?? 'application/octet-stream';
    res.writeHead(200, { ...COMMON_HEADERS, 'Content-Type': type, 'Content-Length': file.size });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await pipeline(createReadStream(file.path), res);
  }

  /** The file a URL names under the root (a folder means its index.html), or null. */
  async #resolve(url: string): Promise<{ path: string; size: number } | null> {
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(url, 'http://localhost').pathname);
    } catch {
      return null; // malformed escapes
    }
    // Decoded, a name may hold what the URL parser did not normalise ("%2e%2e%2f"): refuse any
    // "..", hidden names, backslashes and NULs outright rather than reason about them.
    const names = pathname.split('/').filter((name) => name !== '');
    if (names.some((name) => name.startsWith('.') || name.includes('\\') || name.includes('\0'))) return null;
    let candidate = path.join(this.#root, ...names);
    try {
      let info = await stat(candidate);
      if (info.isDirectory()) {
        candidate = path.join(candidate, 'index.html');
        info = await stat(candidate);
      }
      if (!info.isFile()) return null;
      // A symbolic link inside the folder must not lead out of it.
      const real = await realpath(candidate);
      if (!real.startsWith(this.#root + path.sep)) return null;
      return { path: real, size: info.size };
    } catch {
      return null;
    }
  }
}

/** A short text answer. */
export function plain(res: http.ServerResponse, status: number, text: string): void {
  const body = `${text}\n`;
  res.writeHead(status, { ...COMMON_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
