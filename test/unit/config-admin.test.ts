// The admin.http block (docs/configuration.md, "admin"): off without it, loopback on port 9220 by
// default, every mistake named by its key.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidConfigError, type LoadedConfig, parseConfig } from '../../src/server/config/load.ts';

const TCP = { tcp4: { port: 0 } };

function parse(admin: unknown): LoadedConfig {
  return parseConfig({ network: TCP, ...(admin === undefined ? {} : { admin }) }, { baseDir: '/srv/bester' });
}

function errorsOf(admin: unknown): readonly string[] {
  try {
    parse(admin);
  } catch (err) {
    assert.ok(err instanceof InvalidConfigError);
    return err.errors;
  }
  assert.fail('expected the config to be refused');
}

test('no admin.http block: the listener is off (also with admin.info)', () => {
  assert.equal(parse(undefined).config.adminHttp, null);
  assert.equal(parse({ info: { name: 'x' } }).config.adminHttp, null);
});

test('an empty admin.http block: on, 127.0.0.1:9220', () => {
  const { config, warnings } = parse({ http: {} });
  assert.deepEqual(config.adminHttp, { host: '127.0.0.1', port: 9220 });
  assert.deepEqual(warnings, []);
  assert.ok(Object.isFrozen(config.adminHttp));
});

test('address and port as given; the port as a string of digits too; 0 lets the system choose', () => {
  assert.deepEqual(parse({ http: { address: '::1', port: '9300' } }).config.adminHttp, { host: '::1', port: 9300 });
  assert.deepEqual(parse({ http: { address: '0.0.0.0', port: 0 } }).config.adminHttp, { host: '0.0.0.0', port: 0 });
  assert.deepEqual(parse({ info: null, http: { port: 1 } }).config.adminHttp, { host: '127.0.0.1', port: 1 });
});

test('mistakes are named by key; unknown keys warn', () => {
  assert.deepEqual(errorsOf({ http: 9220 }), ['admin.http: must be an object, got 9220']);
  assert.deepEqual(errorsOf({ http: { port: 70000 } }), ['admin.http.port: must be a port number 0-65535 (a number or a string of digits), got 70000']);
  assert.deepEqual(errorsOf({ http: { address: '' } }), ['admin.http.address: must be a host name or IP address, got ""']);
  assert.deepEqual(errorsOf('on'), ['admin: must be an object, got "on"'], 'a bad admin block is reported once');
  assert.deepEqual(parse({ http: { prot: 1 } }).warnings, ['admin.http.prot: unknown key (ignored)']);
});
