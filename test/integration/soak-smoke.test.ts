// The soak (bench/soak.ts) for a few seconds, as a smoke check: a real daemon under good, slow,
// malicious and flapping clients with a crashing handler; nothing acknowledged is lost.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers/daemon.ts';

test('npm run soak -- --seconds 5: exit 0, nothing lost or duplicated, the daemon stopped cleanly', async () => {
  const args = ['--seconds', '5', '--good', '4', '--slow', '1', '--malicious', '2', '--flapping', '2', '--crash-every-ms', '1500'];
  const child = spawn(process.execPath, [path.join(ROOT, 'bench/soak.ts'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(timer);
  assert.equal(code, 0, `soak failed:\n${out}\n${err}`);
  const result = JSON.parse(out.trim().split('\n').at(-1)!) as {
    ok: boolean;
    messages: { acknowledged: number; lost: number; duplicated: number; unanswered: number };
    rssKiB: { samples: number };
    daemonExit: number;
    handlerRestarts: number | null;
  };
  assert.equal(result.ok, true);
  assert.ok(result.messages.acknowledged > 0);
  assert.deepEqual([result.messages.lost, result.messages.duplicated, result.messages.unanswered], [0, 0, 0]);
  assert.ok(result.rssKiB.samples >= 2);
  assert.equal(result.daemonExit, 0);
  assert.ok((result.handlerRestarts ?? 0) >= 1, 'the handler crashed and was restarted');
});
