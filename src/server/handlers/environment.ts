// The environment handler processes start with (docs/configuration.md, "How handlers are started").
import path from 'node:path';
import type { ServerConfig } from '../config/types.ts';

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
