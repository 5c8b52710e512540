// The client SDK served to browsers by a ws listener (src/server/transport/sdk-files.ts): the entry
// /bester-sdk/client.js, the modules of src/sdk/ and src/protocol/ with their types stripped, and 404
// for anything else.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';

describe('/bester-sdk/ on a ws listener', () => {
  let d: TestDaemon;
  let base: string;
  before(async () => {
    d = await startTestDaemon({ listeners: ['ws'] });
    base = `http://127.0.0.1:${d.port}/bester-sdk/`;
  });
  after(() => d.close());

  test('the entry re-exports the client; its modules come as JavaScript, types stripped', async () => {
    const entry = await fetch(`${base}client.js`);
    assert.equal(entry.status, 200);
    assert.equal(entry.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(await entry.text(), "export * from './sdk/client.ts';\n");
    const client = await fetch(`${base}sdk/client.ts`);
    assert.equal(client.status, 200);
    assert.equal(client.headers.get('content-type'), 'text/javascript; charset=utf-8');
    const code = await client.text();
    assert.match(code, /export function connect\(options\s*\)/);
    assert.doesNotMatch(code, /^import type|: ConnectOptions|interface /m);
    const head = await fetch(`${base}protocol/json.ts`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.ok(Number(head.headers.get('content-length')) > 0);
  });

  test('nothing else: other folders, other extensions, climbing out, other methods', async () => {
    for (const name of ['server/server.ts', 'sdk/client.js', 'sdk/client.d.ts', 'sdk/nothing.ts', 'sdk/%2e%2e/server/server.ts', '..%2fpackage.json', 'sdk/']) {
      assert.equal((await fetch(`${base}${name}`)).status, 404, name);
    }
    assert.equal((await fetch(`${base}client.js`, { method: 'POST', body: 'x' })).status, 405);
  });
});
