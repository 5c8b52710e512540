// The Node.js flags the daemon starts with (src/cli/daemon-node-flags.ts) are the same in every
// place that starts it, and the installed entry point really starts with them.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DAEMON_ENV, DAEMON_NODE_FLAGS, daemonShebang } from '../../src/cli/daemon-node-flags.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/besterd.js');

describe('daemon Node.js flags', () => {
  test('bin/besterd.js starts Node with exactly them', () => {
    const first = readFileSync(BIN, 'utf8').split('\n')[0];
    assert.equal(first, daemonShebang());
    assert.ok(first?.endsWith(` node ${DAEMON_NODE_FLAGS.join(' ')}`));
  });

  test('the systemd unit in docs/operations.md passes them', () => {
    const doc = readFileSync(path.join(ROOT, 'docs/operations.md'), 'utf8');
    const execStart = doc.split('\n').find((line) => line.startsWith('ExecStart='));
    assert.ok(execStart, 'docs/operations.md has a systemd ExecStart line');
    assert.ok(execStart.includes(`/node ${DAEMON_NODE_FLAGS.join(' ')} `), execStart);
    for (const [name, value] of Object.entries(DAEMON_ENV)) assert.ok(doc.includes(`\nEnvironment=${name}=${value}\n`), `Environment=${name}=${value}`);
  });

  test('run as a program, the entry point gets them from its first line', () => {
    // The first line's node is found on PATH: put this Node first, as npx does.
    const env = {
      ...process.env,
      PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
      NODE_OPTIONS: `--import "data:text/javascript,process.stdout.write('execArgv=' + JSON.stringify(process.execArgv) + ' ' + process.env.MALLOC_MMAP_THRESHOLD_ + String.fromCharCode(10))"`,
    };
    const out = execFileSync(BIN, ['--help'], { env, encoding: 'utf8' });
    const line = /^execArgv=(.*) (\S+)$/m.exec(out);
    assert.equal(line?.[2], DAEMON_ENV.MALLOC_MMAP_THRESHOLD_, 'the environment of the first line reaches the daemon');
    const execArgv = JSON.parse(line?.[1] ?? 'null') as string[] | null;
    assert.ok(execArgv, out);
    for (const flag of DAEMON_NODE_FLAGS) assert.ok(execArgv.includes(flag), `${flag} in ${JSON.stringify(execArgv)}`);
    assert.match(out, /Usage: besterd/);
  });
});
