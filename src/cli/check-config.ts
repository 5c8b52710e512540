// `bester check-config FILE`: load a server config and say what the daemon would do with it,
// or why it would refuse to start (docs/configuration.md).
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../protocol/errors.ts';
import { plainTextWarnings } from '../server/config/coherence.ts';
import { InvalidConfigError, loadConfig } from '../server/config/load.ts';
import type { ListenerConfig, ServerConfig } from '../server/config/types.ts';
import { keyPath } from '../server/config/validate.ts';
import { redactUrl } from '../server/redis/url.ts';

export interface CheckConfigOutput {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** 0 when the config loads, 1 when it does not (the message goes to stderr). Never exits the process. */
export async function runCheckConfig(file: string, out: CheckConfigOutput): Promise<number> {
  let loaded;
  try {
    loaded = await loadConfig(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const warnings = err instanceof InvalidConfigError ? err.warnings : [];
    out.stderr.write(`${err.message}\n${warnings.map((w) => `warning: ${w}\n`).join('')}`);
    return 1;
  }
  const { config, warnings } = loaded;
  const fileWarnings = [...plainTextWarnings(config), ...(await checkFiles(config))];
  const lines = [`configuration OK: ${config.configPath ?? file}`, ...summary(config)];
  for (const warning of [...warnings, ...fileWarnings]) lines.push(`warning: ${warning}`);
  out.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

function summary(config: ServerConfig): string[] {
  const lines = ['listeners:', ...config.listeners.map((l) => `  ${describeListener(l)}`)];
  if (config.handlers.size === 0) {
    lines.push('handlers: none (only the built-in types "dummy" and "builtin" are answered)');
  } else {
    lines.push('handlers:');
    for (const h of config.handlers.values()) {
      const binary = h.binary === null ? 'run by someone else' : [h.binary, ...h.args].join(' ');
      // Where a started handler runs (docs/configuration.md, "How the daemon starts a handler").
      const run = h.binary !== null && h.workingDirectory !== undefined ? `${binary} (in ${h.workingDirectory})` : binary;
      lines.push(`  ${h.type}: ${run}; socket ${h.socketPath}; timeout ${h.timeoutMs} ms`);
    }
  }
  lines.push(`account store: ${config.accounts.kind} ${accountsWhere(config)}`);
  lines.push(`log level: ${config.log.level}`);
  if (config.federation.acceptUnauthenticatedServers) {
    lines.push('federation: unauthenticated "server" connections are ACCEPTED (anyone who can connect can inject messages)');
  }
  return lines;
}

function describeListener(l: ListenerConfig): string {
  if (l.kind === 'unix') return `unix ${l.path} (mode ${l.mode.toString(8).padStart(4, '0')})`;
  const host = l.kind === 'tcp6' || l.kind === 'tls6' || l.host.includes(':') ? `[${l.host}]` : l.host;
  const tls = 'tls' in l && l.tls !== null ? `; certificate ${l.tls.certificate}, client certificates: ${l.tls.clientCertificates}` : '';
  const where = `${l.kind} ${host}:${l.port}${l.port === 0 ? ' (port 0: the system picks a free port)' : ''}${tls}`;
  if (l.kind !== 'ws' && l.kind !== 'wss') return where;
  const origins = l.origins.length === 0 ? 'its own origin only' : `its own and ${l.origins.join(', ')}`;
  return `${where}; WebSocket on ${l.path} (browser origins: ${origins}), files: ${l.staticDir ?? 'none'}`;
}

function accountsWhere(config: ServerConfig): string {
  const accounts = config.accounts;
  return accounts.kind === 'sqlite' ? accounts.path : `${redactUrl(accounts.url)} (Redis, keys ${accounts.prefix}*)`;
}

/** Problems with files the config names that the daemon would only meet at start. */
async function checkFiles(config: ServerConfig): Promise<string[]> {
  const warnings: string[] = [];
  const folders = new Map<string, string>();
  // The daemon creates the folders of the sockets it binds, of the handlers it starts and of the
  // SQLite file; only a handler run by someone else needs its folder to exist already.
  for (const h of config.handlers.values()) {
    const key = keyPath('handlers.typeMap', h.type);
    if (h.binary === null) folders.set(path.dirname(h.socketPath), `${key}.unixDomainSocketPath`);
    if (h.binary !== null && path.isAbsolute(h.binary)) {
      const problem = await fileProblem(h.binary, constants.X_OK);
      if (problem !== null) warnings.push(`${key}.handlerBinary: ${h.binary} ${problem}`);
    }
  }
  for (const [folder, key] of folders) {
    if (!(await isDirectory(folder))) warnings.push(`${key}: folder ${folder} does not exist`);
  }
  return warnings;
}

async function fileProblem(file: string, mode: number): Promise<string | null> {
  try {
    if (!(await stat(file)).isFile()) return 'is not a file';
    await access(file, mode);
    return null;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT') return 'does not exist';
    if (code === 'EACCES') return 'is not executable';
    return `cannot be checked (${String(code)})`;
  }
}

async function isDirectory(folder: string): Promise<boolean> {
  try {
    return (await stat(folder)).isDirectory();
  } catch {
    return false;
  }
}
