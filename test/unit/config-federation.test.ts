import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { InvalidConfigError, parseConfig } from '../../src/server/config/load.ts';

const TCP = { types: ['tcp4'], tcp4: { port: '0', address: '127.0.0.1' } };
const SECRET = 'a-shared-secret-of-32-characters';

function parse(federation: unknown, baseDir = os.tmpdir()): ReturnType<typeof parseConfig> {
  return parseConfig({ network: TCP, federation }, { baseDir });
}

function errors(federation: unknown): string[] {
  try {
    parse(federation);
  } catch (err) {
    assert.ok(err instanceof InvalidConfigError);
    return [...err.errors];
  }
  assert.fail('expected an invalid config');
}

describe('federation config', () => {
  test('peers with addresses and secrets, limits read', () => {
    const { config } = parse({
      nodeId: 's1',
      peers: {
        s2: { address: '127.0.0.1:2230', secret: SECRET },
        s3: { address: '[::1]:2231', secret: SECRET },
        inbound: { secret: SECRET },
        old: { address: 'old.example:2220', legacy: true },
      },
      maxHops: 3,
      outboxCap: 5,
    });
    const f = config.federation;
    assert.equal(f.nodeId, 's1');
    assert.deepEqual(f.peers.get('s2'), { name: 's2', host: '127.0.0.1', port: 2230, secret: SECRET, legacy: false, tls: null });
    assert.deepEqual(f.peers.get('s3'), { name: 's3', host: '::1', port: 2231, secret: SECRET, legacy: false, tls: null });
    assert.deepEqual(f.peers.get('inbound'), { name: 'inbound', host: null, port: null, secret: SECRET, legacy: false, tls: null });
    assert.deepEqual(f.peers.get('old'), { name: 'old', host: 'old.example', port: 2220, secret: null, legacy: true, tls: null });
    assert.equal(f.maxHops, 3);
    assert.equal(f.outboxCap, 5);
  });

  test('a secret can come from a file beside the config', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bf-'));
    writeFileSync(path.join(dir, 's2.secret'), `${SECRET}\n`);
    const { config } = parse({ peers: { s2: { address: '127.0.0.1:1', secretFile: 's2.secret' } } }, dir);
    assert.equal(config.federation.peers.get('s2')?.secret, SECRET);
    rmSync(dir, { recursive: true, force: true });
  });

  test('errors name the key', () => {
    assert.match(errors({ peers: { s2: { address: '127.0.0.1:1' } } })[0]!, /^federation\.peers\.s2: needs "secret" or "secretFile"/);
    assert.match(errors({ peers: { s2: { address: '127.0.0.1:1', secret: 'short' } } })[0]!, /^federation\.peers\.s2\.secret: must be at least 16 characters/);
    assert.match(errors({ peers: { s2: { address: 'nowhere', secret: SECRET } } })[0]!, /^federation\.peers\.s2\.address: must be "host:port"/);
    assert.match(errors({ peers: { s2: { legacy: true } } })[0]!, /^federation\.peers\.s2\.address: required for a legacy peer/);
    assert.match(errors({ peers: { s2: { address: '127.0.0.1:1', secretFile: '/nonexistent/x' } } })[0]!, /^federation\.peers\.s2\.secretFile: cannot read .*ENOENT/);
    assert.match(errors({ nodeId: 'has space' })[0]!, /^federation\.nodeId: must be 1-64 letters/);
    assert.match(errors({ nodeId: 's1', peers: { s1: { secret: SECRET } } })[0]!, /own nodeId/);
    assert.match(errors({ peers: { s2: { address: '127.0.0.1:1', secret: SECRET, secretFile: 'x' } } })[0]!, /not both/);
  });
});
