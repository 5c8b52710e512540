// The systemd unit's sandboxing (docs/operations.md, "Running it"), emulated without systemd:
// NoNewPrivileges (setpriv --no-new-privs), ProtectSystem=strict (every mount read-only in a
// private mount namespace, only the state folder writable) and PrivateTmp (an empty tmpfs on
// /tmp). The daemon starts there, with a handler, serves a login and a message, and stops cleanly.
// Needs root (or CAP_SYS_ADMIN) for the mount namespace, and util-linux unshare and setpriv;
// skipped otherwise.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { openSqliteAccountStore } from '../../src/server/accounts/sqlite-store.ts';
import { FAKE_HANDLER, ROOT, tempDir } from '../helpers/daemon.ts';
import { spawnBesterd } from '../helpers/besterd-process.ts';
import { loggedIn, message } from '../helpers/raw-client.ts';

function canSandbox(): boolean {
  try {
    execFileSync('unshare', ['-m', 'sh', '-c', 'mount --make-rprivate / && mount -t tmpfs tmpfs /mnt'], { stdio: 'ignore', timeout: 5000 });
    execFileSync('setpriv', ['--no-new-privs', 'true'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

const dir = tempDir('bt-sandbox-');
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Inside `unshare -m`: the test folder is bound at /mnt (outside the private /tmp), every mount
 * but /proc, /sys and /dev is made read-only, the state folder alone is writable again.
 */
const SANDBOX = `set -e
mount --make-rprivate /
mount --bind "$1" /mnt
mkdir -p /run/bt-root && mount --bind "$2" /run/bt-root
mount -t tmpfs tmpfs /tmp
# A checkout that itself lies under /tmp (a CI clone) is bound back into the empty /tmp: the code
# must stay reachable; the private /tmp is what the daemon sees for its own files.
case "$2" in /tmp/*) mkdir -p "$2" && mount --bind /run/bt-root "$2" ;; esac
for m in $(awk '{print $2}' /proc/self/mounts | sort -u); do
  case "$m" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/tmp) ;; *) mount -o remount,bind,ro "$m" 2>/dev/null || true ;; esac
done
mount --bind /mnt/state /mnt/state
mount -o remount,bind,rw /mnt/state
if touch /mnt/probe 2>/dev/null || touch "$2/probe" 2>/dev/null; then echo "sandbox: not read-only" >&2; exit 9; fi
shift 2
exec setpriv --no-new-privs "$@"
`;

test('besterd runs under NoNewPrivileges, ProtectSystem=strict (state folder writable) and PrivateTmp', { skip: !canSandbox() && 'needs root for a mount namespace', timeout: 60_000 }, async () => {
  mkdirSync(path.join(dir, 'state'));
  writeFileSync(path.join(dir, 'sandbox.sh'), SANDBOX);
  writeFileSync(path.join(dir, 'server.conf'), JSON.stringify({
    network: { types: ['tcp4', 'unix'], tcp4: { port: '0', address: '127.0.0.1' }, unix: { address: 'state/bester.sock' } },
    handlers: { availableTypes: ['fake'], typeMap: { fake: { handlerBinary: process.execPath, handlerArgs: [FAKE_HANDLER], unixDomainSocketPath: 'state/fake.sock' } } },
    database: { type: 'sqlite', sqlite: { path: 'state/bester.db' } },
    informer: { path: 'state/informer.sock' },
  }));
  const store = await openSqliteAccountStore(path.join(dir, 'state/bester.db'));
  await store.add('alice', 'sandbox-pw');
  await store.close();

  const { child, logs, started, exited, stderr } = spawnBesterd('unshare', [
    '-m', 'sh', path.join(dir, 'sandbox.sh'), dir, ROOT, process.execPath, path.join(ROOT, 'src/cli/besterd.ts'), '/mnt/server.conf',
  ]);
  try {
    const { port } = await started;
    const { client, answer } = await loggedIn({ port: port! }, 'alice', 'sandbox-pw');
    assert.equal((answer as { header: { status: string } }).header.status, 'good');
    client.send(message('fake', 'm1', { to: ['alice'], text: 'sandboxed' }));
    assert.equal(((await client.next()) as { header: { messageType: string } }).header.messageType, 'receivedMessage');
    assert.equal(((await client.next()) as { header: { status: string } }).header.status, 'good');
    client.close();
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, `${stderr()}\n${JSON.stringify(logs)}`);
});
