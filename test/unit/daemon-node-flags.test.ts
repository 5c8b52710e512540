// The Node.js flags the daemon starts with (src/cli/daemon-node-flags.ts) are the same in every
// place that starts it, and the installed entry point really starts with them.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DAEMON_ENV, DAEMON_NODE_FLAGS, DAEMON_V8_FLAGS, daemonShebang, v8FlagsToSet } from '../../src/cli/daemon-node-flags.ts';

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

  test('the daemon sets its V8 flags itself when it starts, unless the operator gave them', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bester-v8flags-'));
    try {
      // Preloaded into the daemon: records what it passes to v8.setFlagsFromString.
      const preload = path.join(dir, 'record.mjs');
      writeFileSync(preload, [
        "import v8 from 'node:v8';",
        'const set = [];',
        'const original = v8.setFlagsFromString;',
        'v8.setFlagsFromString = (flags) => { set.push(flags); original(flags); };',
        "process.on('exit', () => process.stdout.write('v8flags=' + JSON.stringify(set) + String.fromCharCode(10)));",
      ].join('\n'));
      const run = (nodeArgs: string[]): string[] => {
        const env = { ...process.env, NODE_OPTIONS: `--import ${preload}` };
        const out = execFileSync(process.execPath, [...nodeArgs, BIN, '--help'], { env, encoding: 'utf8' });
        assert.match(out, /Usage: besterd/);
        return JSON.parse(/^v8flags=(.*)$/m.exec(out)?.[1] ?? 'null') as string[];
      };
      assert.deepEqual(run([]), DAEMON_V8_FLAGS);
      const [first, ...rest] = DAEMON_V8_FLAGS;
      assert.ok(first);
      assert.deepEqual(run([`${first.split('=')[0]}=100`]), rest, "a flag on node's command line is the operator's");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('which V8 flags are left to the operator: a name given with - or _, on the command line or in NODE_OPTIONS', () => {
    const [first, second] = DAEMON_V8_FLAGS.map((flag) => flag.split('=')[0] ?? '');
    assert.ok(first && second);
    assert.deepEqual(v8FlagsToSet([], undefined), DAEMON_V8_FLAGS);
    assert.deepEqual(v8FlagsToSet(['--max-semi-space-size=16'], '--enable-source-maps'), DAEMON_V8_FLAGS);
    assert.deepEqual(v8FlagsToSet([`${first}=10`], undefined), DAEMON_V8_FLAGS.slice(1));
    assert.deepEqual(v8FlagsToSet([], ` ${second.replaceAll('-', '_').replace(/^__/, '--')}=5 `), DAEMON_V8_FLAGS.slice(0, 1));
    assert.deepEqual(v8FlagsToSet([first], `${second}=1`), []);
  });

  test('set at run time, V8 uses the larger inlining budget: a function above the default budget is inlined', () => {
    // A function of ~630 bytes of bytecode (V8's default limit: 460), called hot in a loop.
    const body = Array.from({ length: 30 }, (_, i) => `s = (s + a * ${i} + (b ^ ${i})) | 0;`).join(' ');
    const script = [
      `import { applyDaemonV8Flags } from ${JSON.stringify(path.join(ROOT, 'src/cli/daemon-node-flags.ts'))};`,
      "if (process.argv.includes('apply')) applyDaemonV8Flags();",
      `function big(a, b) { let s = 0; ${body} return s; }`,
      'function outer(n) { let t = 0; for (let i = 0; i < n; i++) t = (t + big(i, t)) | 0; return t; }',
      'let r = 0; for (let k = 0; k < 2000; k++) r ^= outer(1000);',
      'if (r === 0.5) console.log(r);',
    ].join('\n');
    const inlined = (apply: boolean): boolean => {
      const out = execFileSync(process.execPath, ['--trace-turbo-inlining', '--input-type=module', '-e', script, ...(apply ? ['apply'] : [])], {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
      return /^Inlining \S+ \{\S+ <SharedFunctionInfo big>\}/m.test(out);
    };
    assert.equal(inlined(false), false, "with V8's default budget the function is not inlined (else this test shows nothing)");
    assert.equal(inlined(true), true);
  });
});
