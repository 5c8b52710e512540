// The `handlers` block: message types and the handler serving each (docs/configuration.md, "handlers").
import path from 'node:path';
import { DEFAULT_HANDLER_CONNECTIONS, DEFAULT_HANDLER_MAX_IN_FLIGHT, DEFAULT_HANDLER_TIMEOUT_MS, MAX_HANDLER_CONNECTIONS } from './defaults.ts';
import type { HandlerConfig, HandlerInput, HandlerProtocol } from './types.ts';
import { type Checker, type RawObject, describe, hasControlChars, keyPath, own } from './validate.ts';

/** Types the daemon answers itself (bester-original.md, "Built-in types"). */
const BUILTIN_TYPES = ['dummy', 'builtin'];
/** Built-in types we added (docs/protocol.md §5.3): a handler configured for one of them takes its place. */
const YIELDING_BUILTINS = ['ping', 'pong'];
/** Names that would collide with JavaScript object internals wherever a type is used as a key. */
const UNSAFE_NAMES = ['__proto__', 'constructor', 'prototype'];
const MAX_TYPE_LENGTH = 128;

/** Keyed by type, in `availableTypes` order. */
export function parseHandlers(c: Checker, value: unknown): Map<string, HandlerConfig> {
  const result = new Map<string, HandlerConfig>();
  const handlers = c.block(value, 'handlers');
  if (handlers === undefined) return result;
  c.unknownKeys(handlers, 'handlers', ['availableTypes', 'typeMap']);

  const typeMap = c.block(own(handlers, 'typeMap'), 'handlers.typeMap');
  const listed = own(handlers, 'availableTypes');
  const types = parseAvailableTypes(c, listed);
  for (const type of types) {
    const key = keyPath('handlers.typeMap', type);
    const entry = typeMap === undefined ? undefined : own(typeMap, type);
    if (entry === undefined) {
      // The original's own sample lists a type with no entry; it loaded, and such messages found no handler.
      c.warn(key, `missing, though handlers.availableTypes lists ${describe(type)}: messages of that type get "unknown_type"`);
      continue;
    }
    const block = c.block(entry, key);
    if (block !== undefined) result.set(type, parseHandler(c, block, key, type));
    if (block !== undefined && YIELDING_BUILTINS.includes(type)) {
      c.warn(key, `"${type}" is also a built-in type (docs/protocol.md §5.3); this handler answers it instead`);
    }
  }
  // Entries named in an invalid availableTypes already have an error; don't add a warning.
  if (typeMap !== undefined && (listed === undefined || Array.isArray(listed))) {
    const named: unknown[] = Array.isArray(listed) ? listed : [];
    for (const type of Object.keys(typeMap)) {
      if (!named.includes(type)) {
        c.warn(keyPath('handlers.typeMap', type), 'not listed in handlers.availableTypes (not loaded)');
      }
    }
  }
  return result;
}

/** The valid, unique type names listed; every problem is reported. */
function parseAvailableTypes(c: Checker, value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    c.error('handlers.availableTypes', `must be an array of type names, got ${describe(value)}`);
    return [];
  }
  const types: string[] = [];
  value.forEach((item: unknown, index) => {
    const key = keyPath('handlers.availableTypes', index);
    const problem = typeNameProblem(item);
    if (problem !== undefined) c.error(key, `${problem}, got ${describe(item)}`);
    else if (typeof item === 'string' && types.includes(item)) c.error(key, `${describe(item)} is listed twice`);
    else if (typeof item === 'string') types.push(item);
  });
  return types;
}

function typeNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'must be a string (a message type name)';
  const length = [...name].length;
  if (length < 1 || length > MAX_TYPE_LENGTH) return `must be 1-${MAX_TYPE_LENGTH} characters long`;
  if (hasControlChars(name)) return 'must not contain control characters';
  if (BUILTIN_TYPES.includes(name)) return 'is a built-in type the daemon answers itself; it cannot have a handler';
  if (UNSAFE_NAMES.includes(name)) return 'is a reserved name';
  return undefined;
}

function parseHandler(c: Checker, block: RawObject, key: string, type: string): HandlerConfig {
  c.unknownKeys(block, key, [
    'handlerBinary', 'unixDomainSocketPath', 'handlerArgs', 'timeoutMs', 'input', 'maxInFlight', 'maxInFlightPerUser', 'connections', 'protocol',
    'workingDirectory',
  ]);
  const socketKey = keyPath(key, 'unixDomainSocketPath');
  const socket = own(block, 'unixDomainSocketPath');
  let socketPath = '';
  if (socket === undefined) c.error(socketKey, 'required: the path of the socket the handler listens on');
  else if (typeof socket !== 'string') c.error(socketKey, `must be a string, got ${describe(socket)}`);
  else socketPath = c.socketPath(socket, socketKey) ?? '';

  const maxInFlight = c.integer(own(block, 'maxInFlight'), keyPath(key, 'maxInFlight'), DEFAULT_HANDLER_MAX_IN_FLIGHT);
  const perUserKey = keyPath(key, 'maxInFlightPerUser');
  const maxInFlightPerUser = Math.min(maxInFlight, c.integer(own(block, 'maxInFlightPerUser'), perUserKey, Math.max(1, Math.ceil(maxInFlight / 4))));
  const binary = parseBinary(c, own(block, 'handlerBinary'), keyPath(key, 'handlerBinary'));
  const workingDirectory = parseWorkingDirectory(c, block, key, binary);
  return {
    type,
    socketPath,
    binary,
    args: parseArgs(c, own(block, 'handlerArgs'), keyPath(key, 'handlerArgs')),
    timeoutMs: c.integer(own(block, 'timeoutMs'), keyPath(key, 'timeoutMs'), DEFAULT_HANDLER_TIMEOUT_MS),
    input: parseInput(c, own(block, 'input'), keyPath(key, 'input')),
    maxInFlight,
    maxInFlightPerUser,
    connections: c.integer(own(block, 'connections'), keyPath(key, 'connections'), DEFAULT_HANDLER_CONNECTIONS, 1, MAX_HANDLER_CONNECTIONS),
    protocol: parseProtocol(c, own(block, 'protocol'), keyPath(key, 'protocol')),
    ...(workingDirectory !== undefined ? { workingDirectory } : {}),
  };
}

/**
 * Where a started handler runs (docs/configuration.md, "How handlers are started"). The original's
 * authors ran a handler from its own folder (`cd testing/ && python3 unixSock.py`, which binds
 * `../aSock`) and wrote the config's paths from the daemon's folder (`./testing/unixSock.py`,
 * `aSock`): so a binary given as a relative path with a folder runs in that folder, while socket
 * paths keep resolving from the config's folder (the daemon passes them absolute). A bare program
 * name (found on PATH) or an absolute path runs in the config's folder (undefined here).
 * `workingDirectory` says it outright.
 */
function parseWorkingDirectory(c: Checker, block: RawObject, key: string, binary: string | null): string | undefined {
  const value = own(block, 'workingDirectory');
  if (value !== undefined) return c.filePath(value, keyPath(key, 'workingDirectory'));
  const written = own(block, 'handlerBinary');
  if (binary === null || typeof written !== 'string' || path.isAbsolute(written) || !written.includes('/')) return undefined;
  return path.dirname(binary);
}

/** docs/protocol.md §4.5: absent means "auto" (the handler's greeting decides). */
function parseProtocol(c: Checker, value: unknown, key: string): HandlerProtocol {
  if (value === undefined) return 'auto';
  if (value === 'auto' || value === 'original' || value === 'multiplex') return value;
  c.error(key, `must be "auto" (the handler's greeting decides), "original" (a connection per message) or "multiplex", got ${describe(value)}`);
  return 'auto';
}

function parseInput(c: Checker, value: unknown, key: string): HandlerInput {
  if (value === undefined) return 'data';
  if (value === 'data' || value === 'envelope') return value;
  c.error(key, `must be "data" (the original's: payload.data only) or "envelope" ({sender, type, id, data}), got ${describe(value)}`);
  return 'data';
}

/**
 * Missing, null or "" means a handler run by someone else. A path with a "/" resolves from the
 * config's folder; a bare name such as "python3" is left for the PATH lookup.
 */
function parseBinary(c: Checker, value: unknown, key: string): string | null {
  if (value === undefined || value === null || value === '') return null;
  const binary = c.text(value, key, 'a string (a program path or name)');
  if (binary === undefined) return null;
  if (path.isAbsolute(binary)) return path.normalize(binary);
  return binary.includes('/') ? path.resolve(c.baseDir, binary) : binary;
}

function parseArgs(c: Checker, value: unknown, key: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    c.error(key, `must be an array of strings, got ${describe(value)}`);
    return [];
  }
  const args: string[] = [];
  value.forEach((item: unknown, index) => {
    const itemKey = keyPath(key, index);
    if (typeof item !== 'string') c.error(itemKey, `must be a string, got ${describe(item)}`);
    else if (item.includes('\0')) c.error(itemKey, 'must not contain a NUL character');
    else args.push(item);
  });
  return args;
}
