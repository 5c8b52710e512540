// The client SDK for browsers (docs/sdk.md "In a browser"), served by every WebSocket listener under
// /bester-sdk/ beside its static files, so a page it serves can `import { connect } from
// '/bester-sdk/client.js'` with no bundler. Only the modules of src/sdk/ and src/protocol/ are served
// (the browser loads the ones client.ts imports, test/unit/sdk-browser-imports.test.ts): from a
// source checkout as .ts with the types stripped (node:module stripTypeScriptTypes: the relative
// imports keep their .ts names, which a browser resolves like any URL), from the built package as
// the .js files tsc wrote. /bester-sdk/client.js is the entry: it re-exports sdk/client of either.
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import { stripTypeScriptTypes } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SDK_PREFIX = '/bester-sdk/';

const HERE = fileURLToPath(import.meta.url);
/** src/ in a checkout, lib/ in the built package. */
const ROOT = path.resolve(path.dirname(HERE), '..', '..');
/** '.ts' when running from source, '.js' when built. */
const EXT = path.extname(HERE);
const MODULE = /^(sdk|protocol)\/([a-z0-9-]+)(\.ts|\.js)$/;
const HEADERS = Object.freeze({
  'Content-Type': 'text/javascript; charset=utf-8',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-cache',
});

/**
 * The package's own files do not change while the daemon runs: each module is read (and stripped)
 * once per process, shared by every listener. A missing one is remembered as null.
 */
const bodies = new Map<string, Promise<string | null>>();

async function load(name: string): Promise<string | null> {
  if (name === 'client.js') return `export * from './sdk/client${EXT}';\n`;
  const match = MODULE.exec(name);
  if (match === null || match[3] !== EXT) return null;
  try {
    const text = await readFile(path.join(ROOT, match[1]!, `${match[2]!}${EXT}`), 'utf8');
    return EXT === '.ts' ? stripTypeScriptTypes(text, { mode: 'strip' }) : text;
  } catch {
    return null;
  }
}

/** Answers a GET or HEAD under SDK_PREFIX: a module of the client SDK, or 404. Never rejects. */
export async function serveSdk(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): Promise<void> {
  const name = pathname.slice(SDK_PREFIX.length);
  let pending = bodies.get(name);
  if (pending === undefined && (name === 'client.js' || MODULE.test(name))) {
    pending = load(name);
    bodies.set(name, pending);
  }
  const body = pending === undefined ? null : await pending;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
  } else if (body === null) {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' }).end('not found\n');
  } else {
    res.writeHead(200, { ...HEADERS, 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
