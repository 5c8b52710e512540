// `bester status`, spawned against a real daemon's informer: the summary, --json, --config, errors.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { formatStatus } from '../../src/cli/status-command.ts';
import { connect, type BesterClient } from '../../src/sdk/client.ts';
import { runBester } from '../helpers/bester-cli.ts';
import { rawConfig, SDK_HANDLER, startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';

describe('bester status (spawned)', () => {
  let d: TestDaemon;
  let informer: string;
  const clients: BesterClient[] = [];
  before(async () => {
    d = await startTestDaemon({
      handlers: { echo: {}, mx: { binary: process.execPath, args: [SDK_HANDLER] } },
      extra: { admin: { info: { name: 'status test' } } },
    });
    informer = d.server.informerPath ?? '';
    for (const user of ['alice', 'alice', 'bob']) {
      clients.push(await connect({ server: `127.0.0.1:${d.port}`, username: user, password: `${user}-pw` }));
    }
    // One call to the SDK handler: multiplex/1 is negotiated (docs/protocol.md §4.5.1); echo is never called.
    assert.equal((await clients[0]!.send('mx', { to: [] })).status, 'good');
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await d.close();
  });

  test('a summary for people', async () => {
    const result = await runBester(['status', '--informer', informer]);
    assert.equal(result.code, 0, result.stderr);
    const out = result.stdout;
    assert.match(out, /^server: {5}bester \d+\.\d+\.\d+, up \d+s \(since \d{4}-\d\d-\d\dT/);
    assert.match(out, /\nclients: {4}3 connections, 2 users online: alice, bob\n/);
    assert.match(out, new RegExp(`\\nlisteners: {2}tcp4://127\\.0\\.0\\.1:${d.port}\\n {12}unix://${d.unixPath}\\n`));
    assert.match(out, /\nhandlers: {3}echo {2}ready {5}pid \d+, restarts 0, protocol not negotiated yet\n {12}mx {4}ready {5}pid \d+, restarts 0, multiplex\/1 over 1 connection\n/);
    assert.match(out, new RegExp(`\\ninformer: {3}${informer}\\n`));
    assert.match(out, /\nadmin: {6}\{"name":"status test"\}\n$/);
  });

  test('--json prints serverInfo as the server sent it, counts as numbers; the path may come from the environment', async () => {
    const result = await runBester(['status', '--json'], { env: { BESTER_INFORMER_SOCKET: informer } });
    assert.equal(result.code, 0, result.stderr);
    const info = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.equal(info.clientCount, 3, 'the wire has the string "3" (docs/protocol.md §9.4.3); JSON output has numbers');
    assert.equal(info.users, 2);
    assert.deepEqual(info.adminInfo, { name: 'status test' });
    assert.equal(result.stdout.split('\n').length, 2, 'one line');
  });

  test('--config FILE finds the informer in the config', async () => {
    const file = path.join(d.dir, 'server.conf');
    await writeFile(file, JSON.stringify({ ...rawConfig(d.dir, {}), informer: { path: informer } }));
    const result = await runBester(['status', '--config', file]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /2 users online: alice, bob/);

    const off = path.join(d.dir, 'off.conf');
    await writeFile(off, JSON.stringify({ ...rawConfig(d.dir, {}), informer: { enabled: false } }));
    const disabled = await runBester(['status', '--config', off]);
    assert.equal(disabled.code, 1);
    assert.match(disabled.stderr, /^bester: the informer is turned off in .*off\.conf \(informer\.enabled\)\n$/);
  });

  test('errors: no informer there, nothing given, both given, help', async () => {
    const missing = path.join(d.dir, 'nope.sock');
    const gone = await runBester(['status', '--informer', missing]);
    assert.equal(gone.code, 1);
    assert.equal(
      gone.stderr,
      `bester: the daemon is not running at ${missing} (there is no socket file); start it with 'besterd CONFIG' ` +
        `(this is the informer.path of that config), or give the right one with --config FILE or --informer PATH\n`,
    );
    const none = await runBester(['status']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^bester: give --informer PATH, --config FILE or BESTER_INFORMER_SOCKET\nTry 'bester status --help'\.\n$/);
    const both = await runBester(['status', '--informer', 'a', '--config', 'b']);
    assert.equal(both.code, 2);
    const help = await runBester(['status', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: bester status/);
  });
});

test('formatStatus: the protocol in use per handler, when the server sends it', () => {
  const handler = { state: 'ready', pid: 7, restarts: 0, managed: true };
  const out = formatStatus(
    {
      clientCount: '0',
      adminInfo: null,
      listeners: {},
      handlers: [
        { ...handler, type: 'a', protocol: 'original', connections: 0 },
        { ...handler, type: 'bb', protocol: 'multiplex', connections: 2 },
        { ...handler, type: 'c', protocol: 'unknown', connections: 0 },
        { ...handler, type: 'old' },
        { ...handler, type: 'ext', managed: false, pid: null, state: 'external', protocol: 'original', connections: 0 },
      ],
    },
    [],
  );
  assert.equal(out.split('\n').filter((line) => line.startsWith('handlers:') || line.startsWith(' ')).join('\n'), [
    'handlers:   a    ready     pid 7, restarts 0, original protocol',
    '            bb   ready     pid 7, restarts 0, multiplex/1 over 2 connections',
    '            c    ready     pid 7, restarts 0, protocol not negotiated yet',
    '            old  ready     pid 7, restarts 0',
    '            ext  external  run by someone else, original protocol',
  ].join('\n'));
});

test('formatStatus: an original server sends only three fields', () => {
  const out = formatStatus({ clientCount: '1', adminInfo: null, listeners: { listener0: { address: 'tcp4://0.0.0.0:2223' } } }, ['zed']);
  assert.equal(out, [
    'server:     bester (version not reported)',
    'clients:    1 connection, 1 user online: zed',
    'listeners:  tcp4://0.0.0.0:2223',
    '',
  ].join('\n'));
});
