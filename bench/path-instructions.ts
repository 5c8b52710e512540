#!/usr/bin/env node
// Instructions per message of the daemon's own path (bench/message-path.ts), counted by valgrind
// (docs/performance.md, "Counting instructions"). CPU time on this machine kind moves by 1.7x with
// the host's phases; the number of instructions a message takes does not, so a change of a few
// per cent to the session, pipeline, router, chain or delivery shows in one run.
//
//   node bench/path-instructions.ts [--root DIR]... [--messages 5000] [--repeat 3] [--jobs N]  (N counts at a time, each two valgrind processes)
//
// Each count runs message-path.ts under `valgrind --tool=cachegrind --cache-sim=no` twice, with 2
// and with 8 rounds of --messages messages, and takes the difference over the 6 rounds between:
// start-up, loading and warm-up cancel out. Node runs with --single-threaded (no concurrent
// compiler or collector threads, whose timing would move the count). Several --root checkouts
// (e.g. a `git worktree` of the code before a change) are counted in interleaved order and printed
// side by side, with their ratio to the first. Needs valgrind (Debian: apt-get install valgrind).
import { spawn, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    root: { type: 'string', multiple: true },
    messages: { type: 'string', default: '5000' },
    repeat: { type: 'string', default: '3' },
    jobs: { type: 'string' },
  },
});
const here = path.resolve(import.meta.dirname, '..');
const roots = (values.root ?? [here]).map((root) => path.resolve(root));
const messages = Math.max(1000, Number(values.messages));
const repeat = Math.min(20, Math.max(1, Number(values.repeat)));
// Each count is two valgrind runs at once.
const jobs = Math.max(1, Number(values.jobs ?? Math.floor(availableParallelism() / 2)));
const LOW = 2;
const HIGH = 8;
/** One valgrind run of a few hundred million instructions takes a minute or two here; none may hang the bench. */
const RUN_TIMEOUT_MS = 15 * 60_000;

if (spawnSync('valgrind', ['--version']).status !== 0) {
  process.stderr.write('path-instructions: valgrind is not installed (Debian: apt-get install valgrind)\n');
  process.exit(2);
}

/** The instructions executed by one run of `root`'s message-path.ts with `rounds` rounds. */
function count(root: string, rounds: number): Promise<number> {
  const args = [
    '--tool=cachegrind', '--cache-sim=no', '--cachegrind-out-file=/dev/null',
    process.execPath, '--single-threaded', path.join(root, 'bench/message-path.ts'),
    '--messages', String(messages), '--rounds', String(rounds),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('valgrind', args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], timeout: RUN_TIMEOUT_MS });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('error', reject);
    child.on('close', (code) => {
      const refs = /I\s+refs:\s+([\d,]+)/.exec(err);
      if (code !== 0 || refs === null) reject(new Error(`valgrind on ${root} (${rounds} rounds) exited ${code}:\n${err.slice(-2000)}`));
      else resolve(Number(refs[1]!.replaceAll(',', '')));
    });
  });
}

/** Runs the tasks `jobs` at a time, in order. */
async function pool<T>(tasks: ReadonlyArray<() => Promise<T>>): Promise<T[]> {
  const out: T[] = new Array<T>(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, worker));
  return out;
}

const tasks: Array<() => Promise<{ root: string; perMessage: number }>> = [];
for (let r = 0; r < repeat; r++) {
  for (const root of roots) {
    tasks.push(async () => {
      const [low, high] = await Promise.all([count(root, LOW), count(root, HIGH)]);
      const perMessage = (high - low) / ((HIGH - LOW) * messages);
      process.stdout.write(`${root} round ${r + 1}: ${Math.round(perMessage)} instructions/msg\n`);
      return { root, perMessage };
    });
  }
}
const results = await pool(tasks);
const medianOf = (root: string): number => {
  const xs = results.filter((x) => x.root === root).map((x) => x.perMessage).sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)]!;
};
const first = medianOf(roots[0]!);
for (const root of roots) {
  const m = medianOf(root);
  const ratio = root === roots[0] ? '' : `, ${((100 * m) / first).toFixed(1)}% of the first`;
  process.stdout.write(`median ${Math.round(m)} instructions/msg ${root}${ratio} (${repeat} rounds of ${HIGH - LOW} x ${messages} messages)\n`);
}
