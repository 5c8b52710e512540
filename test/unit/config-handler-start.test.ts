// Where a started handler runs (docs/configuration.md, "How handlers are started"): the binary's
// folder when handlerBinary is a relative path with a folder (the original's authors ran their
// handlers from there), else the config's folder; `workingDirectory` says it outright.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidConfigError, parseConfig } from '../../src/server/config/load.ts';

const BASE = '/srv/bester';
const NETWORK = { types: ['tcp4'], tcp4: { port: '0', address: '127.0.0.1' } };

function handlerEntry(entry: Record<string, unknown>): unknown {
  const raw = { network: NETWORK, handlers: { availableTypes: ['t'], typeMap: { t: { unixDomainSocketPath: 'run/t.sock', ...entry } } } };
  return parseConfig(raw, { baseDir: BASE }).config.handlers.get('t')?.workingDirectory;
}

test('a relative binary with a folder runs in that folder; socket paths stay from the config folder', () => {
  assert.equal(handlerEntry({ handlerBinary: './testing/unixSock.py' }), '/srv/bester/testing');
  assert.equal(handlerEntry({ handlerBinary: 'handlers/deep/echo.ts' }), '/srv/bester/handlers/deep');
  const raw = { network: NETWORK, handlers: { availableTypes: ['t'], typeMap: { t: { handlerBinary: './testing/h.py', unixDomainSocketPath: 'aSock' } } } };
  assert.equal(parseConfig(raw, { baseDir: BASE }).config.handlers.get('t')?.socketPath, '/srv/bester/aSock');
});

test('a bare program name, an absolute path or no binary: the config folder (absent)', () => {
  assert.equal(handlerEntry({ handlerBinary: 'python3', handlerArgs: ['handlers/h.py'] }), undefined);
  assert.equal(handlerEntry({ handlerBinary: '/usr/local/bin/h' }), undefined);
  assert.equal(handlerEntry({}), undefined);
});

test('workingDirectory says it outright, from the config folder; it must be a path', () => {
  assert.equal(handlerEntry({ handlerBinary: './testing/h.py', workingDirectory: '.' }), '/srv/bester');
  assert.equal(handlerEntry({ handlerBinary: 'python3', workingDirectory: 'var/h' }), '/srv/bester/var/h');
  assert.throws(
    () => handlerEntry({ handlerBinary: 'python3', workingDirectory: 3 }),
    (err: unknown) => err instanceof InvalidConfigError && err.errors.some((e) => e.startsWith('handlers.typeMap.t.workingDirectory: must be a path')),
  );
});
