// Node.js flags the daemon process runs with (docs/operations.md "Tuning"). DAEMON_NODE_FLAGS
// must be given when Node starts (V8 sizes its heap then), so they live in the places that start
// the daemon: bin/besterd.js's first line, the systemd unit in docs/operations.md, and the bench
// scripts, which take them from here (with DAEMON_ENV below). A test keeps those places in step.
// DAEMON_V8_FLAGS (below) the daemon sets itself when it starts.
import v8 from 'node:v8';

/**
 * --max-semi-space-size=16: on a machine with much memory V8 lets its young generation grow to
 * 64 MiB semi-spaces (128 MiB reserved, ~65 MiB resident after a burst of logins) and keeps them
 * while idle; 16 MiB holds 10,000 idle connections in ~170 MB instead of ~210 MB, with no loss of
 * throughput measured (docs/performance.md).
 */
export const DAEMON_NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=16']);

/**
 * Environment the daemon starts with, for the C library, which reads it only at start.
 *
 * MALLOC_MMAP_THRESHOLD_=131072: every password check (scrypt) takes a 16 MiB buffer on a thread
 * of the pool. glibc raises its mmap threshold after the first such buffer is freed, so the next
 * ones come from per-thread malloc arenas that keep the pages: after a flood of logins the daemon
 * held ~100 MB more RSS for good while its JS heap was back at baseline (docs/security.md, "Memory
 * after abuse"; bench/memory-after-abuse.ts). A fixed threshold keeps large buffers mmapped and
 * returned to the system when freed. Other C libraries ignore the variable.
 */
export const DAEMON_ENV: Readonly<Record<string, string>> = Object.freeze({ MALLOC_MMAP_THRESHOLD_: '131072' });

/** The first line of bin/besterd.js: env sets DAEMON_ENV, then starts node with DAEMON_NODE_FLAGS. */
export function daemonShebang(): string {
  const env = Object.entries(DAEMON_ENV).map(([name, value]) => `${name}=${value}`);
  return `#!/usr/bin/env -S ${[...env, 'node', ...DAEMON_NODE_FLAGS].join(' ')}`;
}

/**
 * V8 flags the daemon sets itself when it starts (src/cli/besterd.ts), before any of its code is
 * optimised: they are read by the optimising compiler at each compilation, so unlike
 * DAEMON_NODE_FLAGS they need not be on the command line (whose first line in bin/besterd.js has
 * no room left: Linux before 5.1 cuts a script's first line at 128 bytes). Node's documentation
 * warns that a flag changed after start may do nothing or misbehave; these two are plain numbers
 * that each optimising compilation reads, and a test (test/unit/daemon-node-flags.test.ts) checks
 * that V8 uses them when set this way.
 *
 * --max-inlined-bytecode-size=920 --max-inlined-bytecode-size-cumulative=2760, twice and three
 * times V8's defaults: the compiler may inline larger functions into the message path (reading a
 * frame, validating, routing, writing are small functions calling each other across modules).
 * Fewer calls per message: 97% of the instructions (bench/path-instructions.ts) and less daemon
 * CPU per message in interleaved runs of bench/load.ts; idle memory unchanged (docs/performance.md,
 * "A larger inlining budget").
 */
export const DAEMON_V8_FLAGS: readonly string[] = Object.freeze([
  '--max-inlined-bytecode-size=920',
  '--max-inlined-bytecode-size-cumulative=2760',
]);

/**
 * The DAEMON_V8_FLAGS that the operator did not give (on node's command line or in NODE_OPTIONS,
 * with `-` or `_` in the name): a flag given there is theirs to tune and is left alone.
 */
export function v8FlagsToSet(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].map((arg) => flagName(arg));
  return DAEMON_V8_FLAGS.filter((flag) => !given.includes(flagName(flag)));
}

/** Sets the DAEMON_V8_FLAGS this process was not started with. */
export function applyDaemonV8Flags(): void {
  for (const flag of v8FlagsToSet(process.execArgv, process.env.NODE_OPTIONS)) v8.setFlagsFromString(flag);
}

function flagName(arg: string): string {
  const eq = arg.indexOf('=');
  return (eq === -1 ? arg : arg.slice(0, eq)).replaceAll('_', '-');
}
