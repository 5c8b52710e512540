#!/usr/bin/env -S node --max-semi-space-size=16
// Installed entry point of `besterd`. The sources are TypeScript run directly by Node.js >= 24
// (type stripping); an older Node gets a clear message instead of a syntax error.
// The first line's flags are src/cli/daemon-node-flags.ts (docs/operations.md "Tuning", Memory).
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`besterd: Node.js >= 24 is required (this is ${process.version}); run it with 'npx besterd' in the project, or put Node 24 first on PATH\n`);
  process.exit(1);
}
await import('../src/cli/besterd.ts');
