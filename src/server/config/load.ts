// Loads the daemon's configuration: the original server.conf (JSON) plus our additive keys, checked
// once into a frozen ServerConfig with every default filled in (STYLE.md #11, docs/configuration.md).
import { checkCoherence } from './coherence.ts';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { getSystemErrorMessage } from 'node:util';
import { ConfigError } from '../../protocol/errors.ts';
import {
  parseAdminHttp,
  parseAdminInfo,
  parseDatabase,
  parseLimits,
  parseLiveness,
  parseLog,
  parseOffline,
  parseShutdown,
  parseSupervision,
} from './blocks.ts';
import { parseFederation } from './federation.ts';
import { parseHandlers } from './handlers.ts';
import { parseInformer, parseNetwork, parseRequireTls } from './network.ts';
import type { ServerConfig } from './types.ts';
import { Checker, describe, isObject, own } from './validate.ts';

export interface LoadedConfig {
  /** Deep-frozen (the handlers Map itself cannot be frozen; its entries are). */
  config: ServerConfig;
  /** Things that do not stop the daemon but that a person should see (unknown keys, unused entries). */
  warnings: string[];
}

/** A configuration that cannot be used; `errors` lists every problem found, one per entry. */
export class InvalidConfigError extends ConfigError {
  readonly errors: readonly string[];
  /** Warnings found alongside the errors (they may explain them, e.g. a misspelt key). */
  readonly warnings: readonly string[];

  constructor(message: string, errors: readonly string[], warnings: readonly string[], options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InvalidConfigError';
    this.errors = Object.freeze([...errors]);
    this.warnings = Object.freeze([...warnings]);
  }
}

const TOP_LEVEL_KEYS = [
  'network',
  'handlers',
  'database',
  'admin',
  'limits',
  'supervision',
  'federation',
  'informer',
  'liveness',
  'offline',
  'shutdown',
  'log',
];

/**
 * Reads and checks the JSON file at `file`. Relative paths inside it resolve from its folder.
 * Throws InvalidConfigError (a ConfigError) when the file cannot be read, is not JSON, or is invalid.
 */
export async function loadConfig(file: string): Promise<LoadedConfig> {
  const configPath = path.resolve(file);
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (err) {
    const problem = `cannot read configuration file ${configPath}: ${describeSystemError(err)}`;
    throw new InvalidConfigError(problem, [problem], [], { cause: err });
  }
  const parsed = parseJson(text);
  if (!parsed.ok) {
    const problem = `invalid JSON in ${configPath}${parsed.problem}`;
    throw new InvalidConfigError(problem, [problem], [], { cause: parsed.cause });
  }
  return parseConfig(parsed.value, { baseDir: path.dirname(configPath), configPath });
}

/**
 * Checks parsed JSON (or an object built in code) and returns the typed, frozen config.
 * Collects every error and throws one InvalidConfigError listing them, one per line.
 */
export function parseConfig(raw: unknown, options: { baseDir: string; configPath?: string | null }): LoadedConfig {
  const baseDir = path.resolve(options.baseDir);
  const configPath = options.configPath == null ? null : path.resolve(options.configPath);
  const c = new Checker(baseDir);
  if (!isObject(raw)) {
    c.errors.push(`the configuration must be a JSON object, got ${describe(raw)}`);
    throw invalid(configPath, c);
  }
  c.unknownKeys(raw, '', TOP_LEVEL_KEYS);
  const listeners = parseNetwork(c, own(raw, 'network'));
  const handlers = parseHandlers(c, own(raw, 'handlers'));
  const informer = parseInformer(c, own(raw, 'informer'), listeners);
  c.checkSockets();
  const config: ServerConfig = {
    configPath,
    baseDir,
    listeners,
    requireTls: parseRequireTls(c, own(raw, 'network')),
    handlers,
    accounts: parseDatabase(c, own(raw, 'database')),
    limits: parseLimits(c, own(raw, 'limits')),
    supervision: parseSupervision(c, own(raw, 'supervision')),
    federation: parseFederation(c, own(raw, 'federation')),
    informer,
    liveness: parseLiveness(c, own(raw, 'liveness')),
    offline: parseOffline(c, own(raw, 'offline')),
    shutdown: parseShutdown(c, own(raw, 'shutdown')),
    log: parseLog(c, own(raw, 'log')),
    adminInfo: parseAdminInfo(c, own(raw, 'admin')),
    adminHttp: parseAdminHttp(c, own(raw, 'admin')),
  };
  checkCoherence(c, config);
  if (c.errors.length > 0) throw invalid(configPath, c);
  for (const handler of handlers.values()) deepFreeze(handler);
  return { config: deepFreeze(config), warnings: c.warnings };
}

function invalid(configPath: string | null, c: Checker): InvalidConfigError {
  const head = configPath === null ? 'invalid configuration:' : `invalid configuration in ${configPath}:`;
  const message = [head, ...c.errors.map((line) => `  ${line}`)].join('\n');
  return new InvalidConfigError(message, c.errors, c.warnings);
}

/** Freezes `value` and every object and array under it (a Map is left as it is). */
function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || value instanceof Map || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  return value;
}

/** `ENOENT (no such file or directory)`. */
function describeSystemError(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const { code, errno } = err as { code?: unknown; errno?: unknown };
    if (typeof code === 'string' && typeof errno === 'number') return `${code} (${getSystemErrorMessage(errno)})`;
    if (typeof code === 'string') return code;
  }
  return err instanceof Error ? err.message : String(err);
}

type JsonResult = { ok: true; value: unknown } | { ok: false; problem: string; cause?: unknown };

/** JSON.parse, with a failure that says where: `problem` is e.g. " at line 3, column 7: Expected ':' ...". */
function parseJson(text: string): JsonResult {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  if (body.trim() === '') return { ok: false, problem: ': the file is empty' };
  try {
    return { ok: true, value: JSON.parse(body) as unknown };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const { line, column } = lineColumn(body, errorOffset(body, message));
    const reason = message
      .replace(/ (in JSON )?at position \d+.*$/s, '')
      .replace(/^(Unexpected token '.+?'), .* is not valid JSON$/s, '$1');
    return { ok: false, problem: ` at line ${line}, column ${column}: ${reason}`, cause: err };
  }
}

/** Where JSON.parse gave up: from its message, else the shortest prefix that cannot start valid JSON. */
function errorOffset(text: string, message: string): number {
  const match = / at position (\d+)/.exec(message);
  if (match?.[1] !== undefined) return Number(match[1]);
  // A prefix is viable when JSON.parse accepts it or only runs out of input; viability is monotonic.
  const viable = (length: number): boolean => {
    try {
      JSON.parse(text.slice(0, length));
      return true;
    } catch (err) {
      const m = err instanceof Error ? err.message : '';
      if (m.startsWith('Unexpected end of JSON input')) return true;
      const at = / at position (\d+)/.exec(m);
      return at?.[1] !== undefined && Number(at[1]) >= length;
    }
  };
  let low = 0; // viable
  let high = text.length; // not viable
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (viable(mid)) low = mid;
    else high = mid;
  }
  return high - 1;
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - (before.lastIndexOf('\n') + 1) + 1;
  return { line, column };
}
