// The environment handler processes start with (docs/configuration.md, "How handlers are started").
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { HandlerConfig, ServerConfig } from '../config/types.ts';

/**
 * Handlers inherit the daemon's environment, with the folder of the Node.js running the daemon first
 * on PATH: a handler script starting with `#!/usr/bin/env node` runs on the same Node (docs/configuration.md).
 * BESTER_INFORMER_SOCKET names this daemon's informer; never one inherited from elsewhere.
 */
export function handlerEnvironment(config: ServerConfig): NodeJS.ProcessEnv {
  const nodeDir = path.dirname(process.execPath);
  const PATH = [nodeDir, ...(process.env.PATH ?? '').split(path.delimiter).filter((p) => p !== '' && p !== nodeDir)];
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: PATH.join(path.delimiter) };
  delete env.BESTER_INFORMER_SOCKET;
  if (config.informer.enabled) env.BESTER_INFORMER_SOCKET = config.informer.path;
  return env;
}

/** Handlers the daemon starts bind their own sockets: the folders the config names for them must exist (at start and on reload). */
export async function makeSocketFolders(handlers: Iterable<HandlerConfig | undefined>): Promise<void> {
  for (const handler of handlers) {
    if (handler !== undefined && handler.binary !== null) await mkdir(path.dirname(handler.socketPath), { recursive: true, mode: 0o700 });
  }
}
