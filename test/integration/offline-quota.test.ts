// Offline byte quotas (docs/protocol.md §4.3.1.1, issue 11 finding 4), against a real daemon and
// its real SQLite file: large messages to offline users stop being kept at the byte limits, the
// sender is told why, and the file on disk stays bounded.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { test } from 'node:test';
import { startTestDaemon } from '../helpers/daemon.ts';
import { loggedIn, message } from '../helpers/raw-client.ts';

interface Frame {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

test('200 KB messages to 8 offline users: kept up to 1 MiB each and 4 MiB in all, the rest refused; the file stays small', async () => {
  const offline = Array.from({ length: 8 }, (_, i) => `away${i}`);
  const users: Record<string, string> = { alice: 'alice-pw' };
  for (const u of offline) users[u] = `${u}-pw`;
  const d = await startTestDaemon({
    users,
    handlers: { fake: {} },
    extra: { offline: { maxBytesPerUser: 1_048_576, maxBytes: 4_194_304 } },
  });
  try {
    const { client: alice } = await loggedIn({ port: d.port }, 'alice', 'alice-pw');
    const pad = 'x'.repeat(200_000);
    const outcomes = new Map<string, number>();
    for (let round = 0; round < 8; round++) {
      for (const user of offline) {
        alice.send(message('fake', `${user}-${round}`, { to: [user], pad }));
        const report = (await alice.next(10_000)) as Frame;
        const key = report.header.status === 'good' ? 'kept' : String(report.header.code);
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        if (report.header.status !== "good") assert.match(String(report.header.reason), /bytes/, JSON.stringify(report));
      }
    }
    alice.close();
    const kept = outcomes.get('kept') ?? 0;
    assert.ok(kept <= 20 && kept >= 16, `kept ${kept} of 64 (4 MiB of 200 KB messages is 20)`);
    assert.equal(outcomes.get('recipient_queue_full'), 64 - kept);
    const db = d.server.config.accounts.kind === 'sqlite' ? d.server.config.accounts.path : '';
    let bytes = 0;
    for (const file of [db, `${db}-wal`]) {
      try {
        bytes += statSync(file).size;
      } catch {
        // no WAL file: nothing to add
      }
    }
    assert.ok(bytes < 10_000_000, `the SQLite file and its WAL hold ${bytes} bytes after 12.8 MB were sent`);
  } finally {
    await d.close();
  }
});
