// The config loader: the original server.conf, defaults, paths, every error and warning, freezing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCheckConfig } from '../../src/cli/check-config.ts';
import { ConfigError } from '../../src/protocol/errors.ts';
import { DEFAULT_FEDERATION } from '../../src/server/config/defaults.ts';
import { InvalidConfigError, type LoadedConfig, loadConfig, parseConfig } from '../../src/server/config/load.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/config/', import.meta.url));
const BASE = '/srv/bester';
const TCP = { tcp4: { port: 0 } };

function parse(raw: unknown): LoadedConfig {
  return parseConfig(raw, { baseDir: BASE });
}

/** The errors parseConfig reports for `raw`. */
function errorsOf(raw: unknown): readonly string[] {
  try {
    parse(raw);
  } catch (err) {
    assert.ok(err instanceof InvalidConfigError, `expected InvalidConfigError, got ${String(err)}`);
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'config_invalid');
    return err.errors;
  }
  assert.fail('expected the config to be refused');
}

/** Asserts that one of the reported errors is `expected` (a string is an exact line). */
function assertError(raw: unknown, expected: string | RegExp): void {
  const errors = errorsOf(raw);
  const found = errors.some((e) => (typeof expected === 'string' ? e === expected : expected.test(e)));
  assert.ok(found, `no error matching ${String(expected)} in:\n${errors.join('\n')}`);
}

function withHandlers(typeMap: Record<string, unknown>, availableTypes: unknown = Object.keys(typeMap)): Record<string, unknown> {
  return { network: TCP, handlers: { availableTypes, typeMap } };
}

/** A temp dir for the current suite, removed after it; call inside describe(). */
function useTempDir(): { dir: () => string; copyFixture: (name: string) => string } {
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bester-config-'));
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir: () => dir,
    copyFixture: (name) => {
      const target = path.join(dir, name);
      fs.copyFileSync(path.join(FIXTURES, name), target);
      return target;
    },
  };
}

await describe('the original server.conf', async () => {
  const tmp = useTempDir();
  await test('loads unchanged with SQLite (ports as strings, paths from the config folder)', async () => {
    const { config, warnings } = await loadConfig(tmp.copyFixture('original-sqlite.conf'));
    assert.deepEqual(warnings, []);
    assert.equal(config.configPath, path.join(tmp.dir(), 'original-sqlite.conf'));
    assert.equal(config.baseDir, tmp.dir());
    assert.deepEqual(config.listeners, [
      { kind: 'unix', path: path.join(tmp.dir(), 'besterUNIXSock'), mode: 0o600 },
      { kind: 'tcp4', host: '0.0.0.0', port: 2220 },
      { kind: 'tcp6', host: '::', port: 2221 },
    ]);
    assert.deepEqual([...config.handlers.keys()], ['type1', 'type2']);
    assert.deepEqual(config.handlers.get('type1'), {
      type: 'type1',
      socketPath: path.join(tmp.dir(), 'aSock'),
      binary: path.join(tmp.dir(), 'handlers/type1'),
      args: [],
      timeoutMs: 10000,
      input: 'data',
      maxInFlight: 256,
      maxInFlightPerUser: 64,
      connections: 2,
      protocol: 'auto',
      workingDirectory: path.join(tmp.dir(), 'handlers'), // the binary's folder (docs/configuration.md)
    });
    assert.deepEqual(config.accounts, { kind: 'sqlite', path: path.join(tmp.dir(), 'bester.db') });
    assert.deepEqual(config.adminInfo, { name: 'test server', contact: 'admin@example.org' });
  });

  await test('the verbatim sample loads, its Redis store accepted as it is; its missing type2 entry is a warning', async () => {
    const { config, warnings } = await loadConfig(tmp.copyFixture('original.conf'));
    assert.deepEqual(warnings.filter((w) => w.startsWith('handlers.typeMap.type2')), [
      'handlers.typeMap.type2: missing, though handlers.availableTypes lists "type2": messages of that type get "unknown_type"',
    ]);
    assert.deepEqual(config.accounts, { kind: 'redis', url: 'redis://127.0.0.1:6379', prefix: 'bester:', nodeId: null, timing: { heartbeatMs: 1000, expiryMs: 5000, ackTimeoutMs: 10_000 } });
  });
});

await describe('values and defaults', async () => {
  const tmp = useTempDir();
  await test('every key of ours is read', async () => {
    const { config, warnings } = await loadConfig(tmp.copyFixture('full.conf'));
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.listeners, [
      { kind: 'unix', path: path.join(tmp.dir(), 'run/bester.sock'), mode: 0o660 },
      { kind: 'tcp4', host: '127.0.0.1', port: 2220 },
      { kind: 'tcp6', host: '::1', port: 2221 },
    ]);
    assert.deepEqual(config.handlers.get('chat'), {
      type: 'chat',
      socketPath: path.join(tmp.dir(), 'run/chat.sock'),
      binary: path.join(tmp.dir(), 'handlers/chat.py'),
      args: ['--verbose'],
      timeoutMs: 5000,
      input: 'envelope',
      maxInFlight: 8,
      maxInFlightPerUser: 3,
      connections: 2,
      protocol: 'multiplex',
      workingDirectory: path.join(tmp.dir(), 'handlers'),
    });
    assert.equal(config.handlers.get('translate')?.binary, null);
    assert.equal(config.handlers.get('translate')?.socketPath, '/tmp/bester-translate.sock');
    assert.deepEqual(config.accounts, { kind: 'sqlite', path: path.join(tmp.dir(), 'data/accounts.db') });
    assert.deepEqual(config.limits, {
      maxFrameBytes: 65536,
      maxLoginFrameBytes: 4096,
      maxHandlerFrameBytes: 524288,
      loginTimeoutMs: 3000,
      maxHandlerHops: 4,
      maxJsonDepth: 32,
      maxConnections: 500,
      maxUnauthenticatedPerAddress: 5,
      maxUnauthenticated: 120,
      maxSessionsPerUser: 4,
      maxOutboundBytes: 1048576,
      writeStallMs: 2000,
      pipelineDepth: 16,
      loginFailures: { maxPerAddress: 7, maxPerUser: 5, windowMs: 60000, blockMs: 30000 },
      loginChecks: { maxRunning: 3, maxWaiting: 40, maxPerAddress: 1 },
    });
    assert.deepEqual(config.liveness, { pingIntervalMs: 30000, maxMissedPings: 3, pingLegacyClients: true });
    assert.deepEqual(config.shutdown, { graceMs: 2500 });
    assert.deepEqual(config.offline, { enabled: false, maxPerUser: 50, maxBytesPerUser: 100000, maxBytes: 2000000, ttlMs: 60000 });
    assert.deepEqual(config.supervision, {
      startTimeoutMs: 2000,
      restartDelayMs: 100,
      maxRestartDelayMs: 10000,
      stopTimeoutMs: 1000,
    });
    assert.equal(config.federation.acceptUnauthenticatedServers, true);
    assert.equal(config.log.level, 'debug');
  });

  await test('a minimal config gets every default', () => {
    const { config, warnings } = parse({ network: { tcp6: { port: '0' } } });
    assert.deepEqual(warnings, []);
    assert.equal(config.configPath, null);
    assert.deepEqual(config.listeners, [{ kind: 'tcp6', host: '::', port: 0 }]);
    assert.equal(config.handlers.size, 0);
    assert.deepEqual(config.accounts, { kind: 'sqlite', path: '/srv/bester/bester.db' });
    assert.deepEqual(config.limits, {
      maxFrameBytes: 262144,
      maxLoginFrameBytes: 8192,
      maxHandlerFrameBytes: 1048576,
      loginTimeoutMs: 10000,
      maxHandlerHops: 16,
      maxJsonDepth: 64,
      maxConnections: 10000,
      maxUnauthenticatedPerAddress: 20,
      maxUnauthenticated: 2000,
      maxSessionsPerUser: 32,
      maxOutboundBytes: 8388608,
      writeStallMs: 10000,
      pipelineDepth: 16,
      loginFailures: { maxPerAddress: 10, maxPerUser: 10, windowMs: 600000, blockMs: 600000 },
      loginChecks: { maxRunning: 4, maxWaiting: 64, maxPerAddress: 16 },
    });
    assert.deepEqual(config.liveness, { pingIntervalMs: 60000, maxMissedPings: 2, pingLegacyClients: false });
    assert.deepEqual(config.shutdown, { graceMs: 10000 });
    assert.deepEqual(config.offline, { enabled: true, maxPerUser: 1000, maxBytesPerUser: 4194304, maxBytes: 67108864, ttlMs: 604800000 });
    assert.deepEqual(config.supervision, {
      startTimeoutMs: 10000,
      restartDelayMs: 500,
      maxRestartDelayMs: 30000,
      stopTimeoutMs: 5000,
    });
    assert.deepEqual(config.federation, { ...DEFAULT_FEDERATION, peers: new Map() });
    assert.deepEqual(config.log, { level: 'info' });
    assert.equal(config.adminInfo, null);
    assert.deepEqual(parse({ network: { tcp4: { port: 1 } } }).config.listeners[0], {
      kind: 'tcp4',
      host: '0.0.0.0',
      port: 1,
    });
  });

  await test('handlers.typeMap.T.connections: 2 by default, 1-64 accepted', () => {
    const connections = (value: unknown) => {
      const { config, warnings } = parse(withHandlers({ t: { unixDomainSocketPath: 's', connections: value } }));
      assert.deepEqual(warnings, []);
      return config.handlers.get('t')?.connections;
    };
    assert.equal(connections(undefined), 2);
    assert.equal(connections(4), 4);
    assert.equal(connections(1), 1);
    assert.equal(connections(64), 64);
  });

  await test('without network.types every block present is used, unix then tcp4 then tcp6', () => {
    const { config } = parse({ network: { tcp6: { port: 3 }, tcp4: { port: 2 }, unix: { address: 's' } } });
    assert.deepEqual(
      config.listeners.map((l) => l.kind),
      ['unix', 'tcp4', 'tcp6'],
    );
  });

  await test('network.types selects and orders the listeners', () => {
    const { config, warnings } = parse({ network: { types: ['tcp6', 'tcp4'], tcp4: { port: 2 }, tcp6: { port: 3 }, unix: { address: 's' } } });
    assert.deepEqual(
      config.listeners.map((l) => l.kind),
      ['tcp6', 'tcp4'],
    );
    assert.deepEqual(warnings, ['network.unix: present but not listed in network.types (no unix listener is opened)']);
  });

  await test('unix mode as an octal string or a number', () => {
    const mode = (m: unknown) => {
      const listener = parse({ network: { unix: { address: 's', mode: m } } }).config.listeners[0];
      return listener?.kind === 'unix' ? listener.mode : undefined;
    };
    assert.equal(mode('0600'), 0o600);
    assert.equal(mode('660'), 0o660);
    assert.equal(mode(0o666), 0o666);
  });

  await test('relative paths resolve from the config folder; bare program names are kept for PATH', () => {
    const binary = (b: string) => parse(withHandlers({ t: { handlerBinary: b, unixDomainSocketPath: 's' } })).config.handlers.get('t')?.binary;
    assert.equal(binary('./handlers/t'), '/srv/bester/handlers/t');
    assert.equal(binary('../bin/t'), '/srv/bin/t');
    assert.equal(binary('bin/t'), '/srv/bester/bin/t');
    assert.equal(binary('/usr/bin/t'), '/usr/bin/t');
    assert.equal(binary('python3'), 'python3');
    assert.equal(binary(''), null);
    const { config } = parseConfig(
      { network: { unix: { address: '../run/b.sock' } }, database: { sqlite: { path: 'db/a.db' } } },
      { baseDir: 'relative/dir' },
    );
    assert.equal(config.baseDir, path.resolve('relative/dir'));
    assert.deepEqual(config.listeners[0], { kind: 'unix', path: path.resolve('relative/run/b.sock'), mode: 0o600 });
    assert.deepEqual(config.accounts, { kind: 'sqlite', path: path.resolve('relative/dir/db/a.db') });
  });
});

await describe('errors name the key and what was expected', async () => {
  const cases: [string, unknown, string | RegExp][] = [
    ['not an object', [], 'the configuration must be a JSON object, got an array'],
    ['no network', {}, /^network: required/],
    ['network not an object', { network: 'tcp4' }, 'network: must be an object, got "tcp4"'],
    ['no listener', { network: {} }, /^network: no listener configured/],
    ['types not an array', { network: { types: 'tcp4', ...TCP } }, /^network\.types: must be an array/],
    ['unknown type', { network: { types: ['tcp4', 'tls'], ...TCP } }, 'network.types[1]: must be one of "unix", "tcp4", "tcp6", "tls4", "tls6", "ws", "wss", got "tls"'],
    ['duplicate type', { network: { types: ['tcp4', 'tcp4'], ...TCP } }, 'network.types[1]: "tcp4" is listed twice'],
    ['empty types', { network: { types: [], ...TCP } }, /^network\.types: is empty/],
    ['listed block missing', { network: { types: ['tcp4', 'tcp6'], ...TCP } }, 'network.tcp6: required because network.types lists "tcp6"'],
    ['block not an object', { network: { tcp4: null } }, 'network.tcp4: must be an object, got null'],
    ['bad port', { network: { tcp4: { port: 'abc' } } }, 'network.tcp4.port: must be a port number 0-65535 (a number or a string of digits), got "abc"'],
    ['port too big', { network: { tcp6: { port: '65536' } } }, /^network\.tcp6\.port: must be a port number 0-65535.*got "65536"$/],
    ['negative port', { network: { tcp4: { port: -1 } } }, /^network\.tcp4\.port: .*got -1$/],
    ['fractional port', { network: { tcp4: { port: 1.5 } } }, /^network\.tcp4\.port: .*got 1\.5$/],
    ['missing port', { network: { tcp4: {} } }, /^network\.tcp4\.port: required/],
    ['empty host', { network: { tcp4: { port: 1, address: '' } } }, /^network\.tcp4\.address: must be a host name or IP address, got ""$/],
    ['IPv6 host on tcp4', { network: { tcp4: { port: 1, address: '::1' } } }, /^network\.tcp4\.address: "::1" is an IPv6 address/],
    ['IPv4 host on tcp6', { network: { tcp6: { port: 1, address: '127.0.0.1' } } }, /^network\.tcp6\.address: "127\.0\.0\.1" is an IPv4 address/],
    ['unix without address', { network: { unix: {} } }, /^network\.unix\.address: required/],
    ['unix address not a string', { network: { unix: { address: 5 } } }, /^network\.unix\.address: must be a path .*got 5$/],
    ['bad octal mode', { network: { unix: { address: 's', mode: '0999' } } }, /^network\.unix\.mode: must be a file mode/],
    ['decimal-looking mode', { network: { unix: { address: 's', mode: 600 } } }, /^network\.unix\.mode: .*did you mean "0600"\?/],
    ['socket path too long', { network: { unix: { address: 'x'.repeat(100) } } }, /^network\.unix\.address: socket path is 112 bytes after resolving .* at most 107/],
    ['handlers not an object', { network: TCP, handlers: [] }, 'handlers: must be an object, got an array'],
    ['availableTypes not an array', { network: TCP, handlers: { availableTypes: 'chat' } }, /^handlers\.availableTypes: must be an array/],
    ['type not a string', withHandlers({}, [7]), 'handlers.availableTypes[0]: must be a string (a message type name), got 7'],
    ['empty type', withHandlers({}, ['']), /^handlers\.availableTypes\[0\]: must be 1-128 characters long/],
    ['type too long', withHandlers({}, ['t'.repeat(129)]), /^handlers\.availableTypes\[0\]: must be 1-128 characters long/],
    ['control character', withHandlers({}, ['a\nb']), /^handlers\.availableTypes\[0\]: must not contain control characters/],
    ['dummy', withHandlers({ dummy: { unixDomainSocketPath: 's' } }), /^handlers\.availableTypes\[0\]: is a built-in type/],
    ['builtin', withHandlers({}, ['builtin']), /^handlers\.availableTypes\[0\]: is a built-in type/],
    ['__proto__', withHandlers({}, ['__proto__']), /^handlers\.availableTypes\[0\]: is a reserved name/],
    ['duplicate type name', withHandlers({ a: { unixDomainSocketPath: 's' } }, ['a', 'a']), 'handlers.availableTypes[1]: "a" is listed twice'],
    ['entry not an object', withHandlers({ chat: 'x' }), 'handlers.typeMap.chat: must be an object, got "x"'],
    ['no socket path', withHandlers({ chat: {} }), /^handlers\.typeMap\.chat\.unixDomainSocketPath: required/],
    ['socket path not a string', withHandlers({ chat: { unixDomainSocketPath: 1 } }), 'handlers.typeMap.chat.unixDomainSocketPath: must be a string, got 1'],
    ['odd type name in the path', withHandlers({ 'a.b': {} }), /^handlers\.typeMap\["a\.b"\]\.unixDomainSocketPath: required/],
    ['binary not a string', withHandlers({ chat: { unixDomainSocketPath: 's', handlerBinary: true } }), /^handlers\.typeMap\.chat\.handlerBinary: must be a string/],
    ['args not an array', withHandlers({ chat: { unixDomainSocketPath: 's', handlerArgs: '-v' } }), 'handlers.typeMap.chat.handlerArgs: must be an array of strings, got "-v"'],
    ['arg not a string', withHandlers({ chat: { unixDomainSocketPath: 's', handlerArgs: ['-v', 2] } }), 'handlers.typeMap.chat.handlerArgs[1]: must be a string, got 2'],
    ['unknown input mode', withHandlers({ chat: { unixDomainSocketPath: 's', input: 'json' } }), /^handlers\.typeMap\.chat\.input: must be "data" .* or "envelope" .*got "json"$/],
    ['timeout zero', withHandlers({ chat: { unixDomainSocketPath: 's', timeoutMs: 0 } }), /^handlers\.typeMap\.chat\.timeoutMs: must be a positive integer .*got 0$/],
    ['in-flight cap zero', withHandlers({ chat: { unixDomainSocketPath: 's', maxInFlight: 0 } }), /^handlers\.typeMap\.chat\.maxInFlight: must be a positive integer .*got 0$/],
    ['connections zero', withHandlers({ T: { unixDomainSocketPath: 's', connections: 0 } }), 'handlers.typeMap.T.connections: must be a positive integer (1-64), got 0'],
    ['connections over 64', withHandlers({ T: { unixDomainSocketPath: 's', connections: 65 } }), 'handlers.typeMap.T.connections: must be a positive integer (1-64), got 65'],
    ['connections as a string', withHandlers({ T: { unixDomainSocketPath: 's', connections: 'x' } }), 'handlers.typeMap.T.connections: must be a positive integer (1-64), got "x"'],
    ['connections fraction', withHandlers({ T: { unixDomainSocketPath: 's', connections: 2.5 } }), 'handlers.typeMap.T.connections: must be a positive integer (1-64), got 2.5'],
    ['same socket twice', { network: { unix: { address: 'a' } }, handlers: { availableTypes: ['t'], typeMap: { t: { unixDomainSocketPath: '/srv/bester/a' } } } },
      'handlers.typeMap.t.unixDomainSocketPath: same socket path as network.unix.address ("/srv/bester/a")'],
    ['database not an object', { network: TCP, database: 'sqlite' }, 'database: must be an object, got "sqlite"'],
    ['unknown database type', { network: TCP, database: { type: 'mongo' } }, /^database\.type: must be "sqlite" .*got "mongo"$/],
    ['sqlite path not a string', { network: TCP, database: { type: 'sqlite', sqlite: { path: 3 } } }, /^database\.sqlite\.path: must be a path/],
    ['limit zero', { network: TCP, limits: { maxFrameBytes: 0 } }, /^limits\.maxFrameBytes: must be a positive integer \(1-2147483647\), got 0$/],
    ['limit as a string', { network: TCP, limits: { maxLoginFrameBytes: '100' } }, /^limits\.maxLoginFrameBytes: .*got "100"$/],
    ['limit too big', { network: TCP, limits: { loginTimeoutMs: 2 ** 31 } }, /^limits\.loginTimeoutMs: must be a positive integer/],
    ['hops zero', { network: TCP, limits: { maxHandlerHops: 0 } }, /^limits\.maxHandlerHops: must be a positive integer/],
    ['depth zero', { network: TCP, limits: { maxJsonDepth: 0 } }, /^limits\.maxJsonDepth: must be a positive integer/],
    ['login failures not an object', { network: TCP, limits: { loginFailures: 3 } }, /^limits\.loginFailures: must be an object, got 3$/],
    ['login failure window zero', { network: TCP, limits: { loginFailures: { windowMs: 0 } } }, /^limits\.loginFailures\.windowMs: must be a positive integer/],
    ['ping interval as a string', { network: TCP, liveness: { pingIntervalMs: '60000' } }, /^liveness\.pingIntervalMs: .*got "60000"$/],
    ['legacy ping not a boolean', { network: TCP, liveness: { pingLegacyClients: 1 } }, /^liveness\.pingLegacyClients: must be true or false, got 1$/],
    ['grace not a number', { network: TCP, shutdown: { graceMs: '5s' } }, /^shutdown\.graceMs: must be a positive integer/],
    ['offline not an object', { network: TCP, offline: true }, 'offline: must be an object, got true'],
    ['offline enabled not a boolean', { network: TCP, offline: { enabled: 'no' } }, 'offline.enabled: must be true or false, got "no"'],
    ['offline cap zero', { network: TCP, offline: { maxPerUser: 0 } }, /^offline\.maxPerUser: must be a positive integer/],
    ['offline ttl too big', { network: TCP, offline: { ttlMs: 2 ** 31 } }, /^offline\.ttlMs: must be a positive integer/],
    ['supervision fraction', { network: TCP, supervision: { stopTimeoutMs: 1.5 } }, /^supervision\.stopTimeoutMs: .*got 1\.5$/],
    ['restart delay above max', { network: TCP, supervision: { restartDelayMs: 60000 } }, /^supervision\.restartDelayMs: must not exceed supervision\.maxRestartDelayMs/],
    ['federation flag', { network: TCP, federation: { acceptUnauthenticatedServers: 'yes' } }, 'federation.acceptUnauthenticatedServers: must be true or false, got "yes"'],
    ['log level', { network: TCP, log: { level: 'verbose' } }, /^log\.level: must be one of "fatal", .*got "verbose"$/],
    ['admin not an object', { network: TCP, admin: 1 }, 'admin: must be an object, got 1'],
    ['admin.info not JSON', { network: TCP, admin: { info: { n: 1n } } }, /^admin\.info: must be JSON data/],
  ];
  for (const [name, raw, expected] of cases) await test(name, () => assertError(raw, expected));

  await test('the Redis store: the original form (ports as strings or numbers), a URL, a prefix; errors name the key', () => {
    const accounts = (redis: unknown): unknown => parse({ network: TCP, database: { type: 'redis', redis } }).config.accounts;
    assert.deepEqual(accounts({ address: '10.0.0.5', port: '6380' }), { kind: 'redis', url: 'redis://10.0.0.5:6380', prefix: 'bester:', nodeId: null, timing: { heartbeatMs: 1000, expiryMs: 5000, ackTimeoutMs: 10_000 } });
    assert.deepEqual(accounts({ address: '::1', port: 6379, prefix: 'b1:' }), { kind: 'redis', url: 'redis://[::1]:6379', prefix: 'b1:', nodeId: null, timing: { heartbeatMs: 1000, expiryMs: 5000, ackTimeoutMs: 10_000 } });
    assert.deepEqual(accounts({}), { kind: 'redis', url: 'redis://127.0.0.1:6379', prefix: 'bester:', nodeId: null, timing: { heartbeatMs: 1000, expiryMs: 5000, ackTimeoutMs: 10_000 } });
    assert.deepEqual(accounts({ url: 'rediss://u:p@cache.example:6390/2' }), { kind: 'redis', url: 'rediss://u:p@cache.example:6390/2', prefix: 'bester:', nodeId: null, timing: { heartbeatMs: 1000, expiryMs: 5000, ackTimeoutMs: 10_000 } });
    const redis = (value: unknown): Record<string, unknown> => ({ network: TCP, database: { type: 'redis', redis: value } });
    assertError({ network: TCP, database: { type: 'redis' } }, /^database\.redis: required when database\.type is "redis"/);
    assertError(redis({ port: 'abc' }), /^database\.redis\.port: must be a port number/);
    assertError(redis({ port: 0 }), /^database\.redis\.port: must be the port Redis listens on/);
    assertError(redis({ address: '' }), /^database\.redis\.address: must be a host name/);
    assertError(redis({ url: 'http://x' }), /^database\.redis\.url: must be a redis:\/\/ or rediss:\/\/ URL/);
    assertError(redis({ url: 'redis://x', port: 1 }), /^database\.redis\.url: give either "url" or "address" and "port"/);
    assert.deepEqual(parse(redis({ host: 'x' })).warnings, ['database.redis.host: unknown key (ignored)']);
    assert.deepEqual(accounts({ nodeId: 'n-1' }), { kind: 'redis', url: 'redis://127.0.0.1:6379', prefix: 'bester:', nodeId: 'n-1', timing: { heartbeatMs: 1000, expiryMs: 5000, ackTimeoutMs: 10_000 } });
    assertError(redis({ nodeId: 'a b' }), /^database\.redis\.nodeId: must be letters, digits/);
    // The cluster's timing (docs/scaling.md "Tuning"): defaults follow a slower heartbeat; cross-checks.
    const timing = (value: Record<string, unknown>): unknown => (accounts(value) as { timing: unknown }).timing;
    assert.deepEqual(timing({ heartbeatMs: 200, expiryMs: 1000, ackTimeoutMs: 4000 }), { heartbeatMs: 200, expiryMs: 1000, ackTimeoutMs: 4000 });
    assert.deepEqual(timing({ heartbeatMs: 2000 }), { heartbeatMs: 2000, expiryMs: 10_000, ackTimeoutMs: 20_000 });
    assertError(redis({ heartbeatMs: 10 }), /^database\.redis\.heartbeatMs: must be an integer \(50-60000\)/);
    assertError(redis({ heartbeatMs: 1000, expiryMs: 2000 }), 'database.redis.expiryMs: must be more than twice heartbeatMs (1000), got 2000');
    assertError(redis({ expiryMs: 5000, ackTimeoutMs: 5500 }), 'database.redis.ackTimeoutMs: must be more than expiryMs + heartbeatMs (6000), got 5500');
    assertError({ network: TCP, database: { type: 'mysql' } }, 'database.type: must be "sqlite" or "redis", got "mysql"');
  });

  await test('the Redis store on a Redis Cluster or behind Sentinel', () => {
    const DEFAULT_TIMING = { heartbeatMs: 1000, expiryMs: 5000, ackTimeoutMs: 10000 };
    const accounts = (redis: unknown): unknown => parse({ network: TCP, database: { type: 'redis', redis } }).config.accounts;
    assert.deepEqual(accounts({ cluster: ['10.0.0.1:7000', '[::1]:7001'], nodeId: 'n1' }),
      { kind: 'redis', url: 'redis://10.0.0.1:7000', prefix: 'bester:', nodeId: 'n1', timing: DEFAULT_TIMING, cluster: ['redis://10.0.0.1:7000', 'redis://[::1]:7001'] });
    assert.deepEqual(accounts({ sentinel: { name: 'mymaster', nodes: ['s1:26379'] } }),
      { kind: 'redis', url: 'redis://s1:26379', prefix: 'bester:', nodeId: null, timing: DEFAULT_TIMING, sentinel: { name: 'mymaster', nodes: [{ host: 's1', port: 26379 }] } });
    const redis = (value: unknown): Record<string, unknown> => ({ network: TCP, database: { type: 'redis', redis: value } });
    assertError(redis({ cluster: [] }), /^database\.redis\.cluster: must be a non-empty list of "host:port"/);
    assertError(redis({ cluster: ['x'] }), /^database\.redis\.cluster\[0\]: must be "host:port"/);
    assertError(redis({ cluster: ['x:1'], url: 'redis://x' }), /^database\.redis\.url: give "cluster" or "sentinel" instead of a single server/);
    assertError(redis({ sentinel: { nodes: ['s:1'] } }), /^database\.redis\.sentinel\.name: must be/);
    // Passwords for the servers and for the Sentinels: inline or from a file (its one line).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bester-config-'));
    try {
      const file = path.join(dir, 'sentinel-pw');
      fs.writeFileSync(file, 'from-the-file\n');
      const sentinel = (extra: Record<string, unknown>): unknown =>
        (accounts({ sentinel: { name: 'm', nodes: ['s1:26379'], ...extra } }) as { sentinel: unknown }).sentinel;
      assert.deepEqual(sentinel({ username: 'bester', password: 'pw', sentinelPasswordFile: file }),
        { name: 'm', nodes: [{ host: 's1', port: 26379 }], username: 'bester', password: 'pw', sentinelPassword: 'from-the-file' });
      assert.deepEqual(sentinel({ passwordFile: file, sentinelPassword: 'spw' }),
        { name: 'm', nodes: [{ host: 's1', port: 26379 }], password: 'from-the-file', sentinelPassword: 'spw' });
      const withSentinel = (extra: Record<string, unknown>): Record<string, unknown> => redis({ sentinel: { name: 'm', nodes: ['s:1'], ...extra } });
      assertError(withSentinel({ password: 'a', passwordFile: file }), 'database.redis.sentinel.password: give "password" or "passwordFile", not both');
      assertError(withSentinel({ username: 'u' }), 'database.redis.sentinel.username: needs "password" or "passwordFile"');
      assertError(withSentinel({ sentinelPasswordFile: path.join(dir, 'missing') }), /^database\.redis\.sentinel\.sentinelPasswordFile: cannot read .*missing: ENOENT/);
      fs.writeFileSync(file, 'two\nlines\n');
      assertError(withSentinel({ passwordFile: file }), /^database\.redis\.sentinel\.passwordFile: .* must hold the password on one line/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  await test('every error is reported at once, one per line, after a first line naming the file', () => {
    const raw = { network: { tcp4: { port: 'abc' } }, limits: { maxFrameBytes: -1 }, log: { level: 1 } };
    let caught: unknown;
    try {
      parseConfig(raw, { baseDir: BASE, configPath: '/srv/bester/server.conf' });
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof InvalidConfigError);
    assert.equal(caught.errors.length, 3);
    assert.deepEqual(caught.message.split('\n'), [
      'invalid configuration in /srv/bester/server.conf:',
      ...caught.errors.map((e) => `  ${e}`),
    ]);
    assert.match(caught.errors.join('\n'), /network\.tcp4\.port.*\n.*limits\.maxFrameBytes.*\n.*log\.level/);
  });
});

await describe('warnings', async () => {
  await test('unknown keys are reported, not refused', () => {
    const { warnings } = parse({
      network: { tcp4: { port: 1, backlog: 5 } },
      limits: { maxFrameByte: 10 },
      supervision: { x: 1 },
      federation: { peer: {} },
      log: { pretty: true },
      extra: 1,
    });
    assert.deepEqual(warnings.toSorted(), [
      'extra: unknown key (ignored)',
      'federation.peer: unknown key (ignored)',
      'limits.maxFrameByte: unknown key (ignored)',
      'log.pretty: unknown key (ignored)',
      'network.tcp4.backlog: unknown key (ignored)',
      'supervision.x: unknown key (ignored)',
    ]);
  });

  await test('typeMap entries not in availableTypes are not loaded', () => {
    const { config, warnings } = parse(withHandlers({ a: { unixDomainSocketPath: 'a' }, b: { unixDomainSocketPath: 'b' } }, ['a']));
    assert.deepEqual([...config.handlers.keys()], ['a']);
    assert.deepEqual(warnings, ['handlers.typeMap.b: not listed in handlers.availableTypes (not loaded)']);
  });

  await test('a listed type with no typeMap entry is a warning, and has no handler', () => {
    const { config, warnings } = parse(withHandlers({ a: { unixDomainSocketPath: 'a' } }, ['a', 'chat']));
    assert.deepEqual([...config.handlers.keys()], ['a']);
    assert.deepEqual(warnings, ['handlers.typeMap.chat: missing, though handlers.availableTypes lists "chat": messages of that type get "unknown_type"']);
  });
});

await describe('loadConfig', async () => {
  const tmp = useTempDir();
  await test('a missing file names the path and the errno', async () => {
    const file = path.join(tmp.dir(), 'missing.conf');
    await assert.rejects(loadConfig(file), {
      name: 'InvalidConfigError',
      message: `cannot read configuration file ${file}: ENOENT (no such file or directory)`,
    });
  });

  await test('invalid JSON says where', async () => {
    const file = path.join(tmp.dir(), 'bad.conf');
    fs.writeFileSync(file, '{\n  "network": {\n    "tcp4": {"port": 1,}\n  }\n}\n');
    await assert.rejects(loadConfig(file), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, new RegExp(`^invalid JSON in ${file} at line 3, column 24: `));
      return true;
    });
    fs.writeFileSync(file, '\n');
    await assert.rejects(loadConfig(file), { message: `invalid JSON in ${file}: the file is empty` });
  });

  await test('a byte order mark is accepted', async () => {
    const file = path.join(tmp.dir(), 'bom.conf');
    fs.writeFileSync(file, '\uFEFF{"network": {"tcp4": {"port": "0"}}}');
    assert.equal((await loadConfig(file)).config.listeners.length, 1);
  });
});

await describe('safety', async () => {
  const tmp = useTempDir();
  await test('the result is deep-frozen', () => {
    const { config } = parse({ ...withHandlers({ t: { unixDomainSocketPath: 's', handlerArgs: ['x'] } }), admin: { info: { a: { b: [1] } } } });
    const info = config.adminInfo as { a: { b: number[] } };
    for (const value of [config, config.listeners, config.listeners[0], config.accounts, config.limits, config.supervision,
      config.federation, config.log, config.handlers.get('t'), config.handlers.get('t')?.args, info, info.a, info.a.b]) {
      assert.ok(Object.isFrozen(value));
    }
    assert.throws(() => {
      (config.limits as { maxFrameBytes: number }).maxFrameBytes = 1;
    }, TypeError);
  });

  await test('__proto__ keys in the JSON do not pollute Object.prototype', async () => {
    const file = path.join(tmp.dir(), 'proto.conf');
    fs.writeFileSync(
      file,
      '{"__proto__": {"polluted": 1}, "network": {"tcp4": {"port": 1}, "__proto__": {"polluted": 2}},' +
        ' "handlers": {"availableTypes": [], "typeMap": {"__proto__": {"polluted": 3}}},' +
        ' "limits": {"__proto__": {"maxFrameBytes": 5}}, "admin": {"info": {"__proto__": {"polluted": 4}}}}',
    );
    const { config, warnings } = await loadConfig(file);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(config.limits.maxFrameBytes, 262144);
    const info = config.adminInfo as object;
    assert.equal(Object.getPrototypeOf(info), Object.prototype);
    assert.ok(Object.hasOwn(info, '__proto__'));
    assert.ok(warnings.includes('__proto__: unknown key (ignored)'));
    assert.ok(warnings.includes('handlers.typeMap.__proto__: not listed in handlers.availableTypes (not loaded)'));
  });
});

await describe('check-config', async () => {
  const tmp = useTempDir();
  function sink(): { stream: Writable; text: () => string } {
    let text = '';
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        text += chunk.toString();
        done();
      },
    });
    return { stream, text: () => text };
  }

  await test('prints a summary and returns 0 for a good config', async () => {
    const [stdout, stderr] = [sink(), sink()];
    const code = await runCheckConfig(tmp.copyFixture('full.conf'), { stdout: stdout.stream, stderr: stderr.stream });
    assert.equal(code, 0);
    assert.equal(stderr.text(), '');
    const text = stdout.text();
    assert.match(text, /^configuration OK: /);
    assert.match(text, /unix .*run\/bester\.sock \(mode 0660\)/);
    assert.match(text, /tcp6 \[::1\]:2221/);
    assert.match(text, /translate: run by someone else/);
    assert.match(text, /account store: sqlite .*data\/accounts\.db/);
    assert.match(text, /^warning: handlers\.typeMap\.chat\.handlerBinary: .* does not exist$/m);
  });

  await test('prints the errors and returns 1 for a bad config', async () => {
    const [stdout, stderr] = [sink(), sink()];
    // The original's sample with a port that is not one (the sample itself is valid now: its Redis store is accepted).
    const file = tmp.copyFixture('original.conf');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"port": "6379"', '"port": "redis"'));
    const code = await runCheckConfig(file, { stdout: stdout.stream, stderr: stderr.stream });
    assert.equal(code, 1);
    assert.equal(stdout.text(), '');
    assert.match(stderr.text(), /^invalid configuration in .*original\.conf:\n {2}database\.redis\.port: must be a port number/);
  });
});

await describe('the informer block', async () => {
  const informerOf = (raw: Record<string, unknown>) => parse(raw).config.informer;

  await test('defaults: on, beside the first unix listener (else in the config folder), 0600, sendClients and control allowed', () => {
    assert.deepEqual(informerOf({ network: TCP }), {
      enabled: true,
      path: '/srv/bester/informer.sock',
      mode: 0o600,
      allowSendClients: true,
      allowControl: true,
    });
    assert.equal(informerOf({ network: { unix: { address: 'run/b.sock' }, ...TCP } }).path, '/srv/bester/run/informer.sock');
    assert.equal(informerOf({ network: { unix: { address: '/run/bester/b.sock' } } }).path, '/run/bester/informer.sock');
    // A unix block not listed in network.types opens no listener: the config folder is used.
    assert.equal(informerOf({ network: { types: ['tcp4'], unix: { address: 'run/b.sock' }, ...TCP } }).path, '/srv/bester/informer.sock');
    assert.deepEqual(parse({ network: TCP }).warnings, []);
  });

  await test('every key is read; a relative path resolves from the config folder', () => {
    assert.deepEqual(informerOf({ network: TCP, informer: { enabled: false, path: 'x/i.sock', mode: '0660', allowSendClients: false, allowControl: false } }), {
      enabled: false,
      path: '/srv/bester/x/i.sock',
      mode: 0o660,
      allowSendClients: false,
      allowControl: false,
    });
    assert.equal(informerOf({ network: TCP, informer: { path: '../i.sock' } }).path, '/srv/i.sock');
    assert.equal(informerOf({ network: TCP, informer: { path: '/run/i.sock', mode: 0o640 } }).path, '/run/i.sock');
    assert.equal(informerOf({ network: TCP, informer: { mode: 0o640 } }).mode, 0o640);
    const { config } = parseConfig({ network: TCP, informer: { path: 'i.sock' } }, { baseDir: 'relative/dir' });
    assert.equal(config.informer.path, path.resolve('relative/dir/i.sock'));
    assert.ok(Object.isFrozen(config.informer));
  });

  await test('unknown keys are warnings', () => {
    assert.deepEqual(parse({ network: TCP, informer: { socket: 'i.sock' } }).warnings, ['informer.socket: unknown key (ignored)']);
  });

  const cases: [string, unknown, string | RegExp][] = [
    ['not an object', { network: TCP, informer: true }, 'informer: must be an object, got true'],
    ['enabled not a boolean', { network: TCP, informer: { enabled: 'yes' } }, 'informer.enabled: must be true or false, got "yes"'],
    ['allowSendClients not a boolean', { network: TCP, informer: { allowSendClients: 1 } }, 'informer.allowSendClients: must be true or false, got 1'],
    ['path not a string', { network: TCP, informer: { path: 5 } }, /^informer\.path: must be a path .*got 5$/],
    ['empty path', { network: TCP, informer: { path: '' } }, /^informer\.path: must be a path .*got ""$/],
    ['path of a disabled informer not a string', { network: TCP, informer: { enabled: false, path: 5 } }, /^informer\.path: must be a path/],
    ['bad mode', { network: TCP, informer: { mode: 'rw' } }, /^informer\.mode: must be a file mode/],
    ['decimal-looking mode', { network: TCP, informer: { mode: 600 } }, /^informer\.mode: .*did you mean "0600"\?/],
    ['path too long', { network: TCP, informer: { path: 'i'.repeat(100) } }, /^informer\.path: socket path is 112 bytes after resolving .* at most 107/],
    ['same path as the unix listener', { network: { unix: { address: 'a' } }, informer: { path: '/srv/bester/a' } },
      'informer.path: same socket path as network.unix.address ("/srv/bester/a")'],
    ['default path taken by a handler socket', withHandlers({ t: { unixDomainSocketPath: 'informer.sock' } }),
      'informer.path: same socket path as handlers.typeMap.t.unixDomainSocketPath ("/srv/bester/informer.sock")'],
  ];
  for (const [name, raw, expected] of cases) await test(name, () => assertError(raw, expected));

  await test('a default path too long for a socket: off with a warning, unless asked for', () => {
    const baseDir = `/srv/${'d'.repeat(90)}`;
    const { config, warnings } = parseConfig({ network: TCP }, { baseDir });
    assert.equal(config.informer.enabled, false);
    assert.equal(config.informer.path, `${baseDir}/informer.sock`);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /^informer: not opened: its default socket path .* is 109 bytes, over the 107 .* set informer\.path/);
    assert.throws(() => parseConfig({ network: TCP, informer: { enabled: true } }, { baseDir }), (err: unknown) => {
      assert.ok(err instanceof InvalidConfigError);
      assert.match(err.errors.join('\n'), /^informer\.path: socket path is 109 bytes after resolving/);
      return true;
    });
    assert.deepEqual(parseConfig({ network: TCP, informer: { enabled: false } }, { baseDir }).warnings, []);
  });
});
