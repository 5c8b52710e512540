// Node.js flags the daemon process is started with (docs/operations.md "Tuning"). They must be
// given when Node starts (V8 sizes its heap then), so they live in the places that start the
// daemon: bin/besterd.js's first line, the systemd unit in docs/operations.md, and the bench
// scripts, which take them from here. A test keeps those places in step with this list.
//
// --max-semi-space-size=16: on a machine with much memory V8 lets its young generation grow to
// 64 MiB semi-spaces (128 MiB reserved, ~65 MiB resident after a burst of logins) and keeps them
// while idle; 16 MiB holds 10,000 idle connections in ~170 MB instead of ~210 MB, with no loss of
// throughput measured (docs/performance.md).
export const DAEMON_NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=16']);
