// Node.js flags the daemon process is started with (docs/operations.md "Tuning"). They must be
// given when Node starts (V8 sizes its heap then), so they live in the places that start the
// daemon: bin/besterd.js's first line, the systemd unit in docs/operations.md, and the bench
// scripts, which take them from here (with DAEMON_ENV below). A test keeps those places in step.
//
// --max-semi-space-size=16: on a machine with much memory V8 lets its young generation grow to
// 64 MiB semi-spaces (128 MiB reserved, ~65 MiB resident after a burst of logins) and keeps them
// while idle; 16 MiB holds 10,000 idle connections in ~170 MB instead of ~210 MB, with no loss of
// throughput measured (docs/performance.md).
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
