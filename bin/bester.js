#!/usr/bin/env node
// Installed entry point of `bester`. The sources are TypeScript run directly by Node.js >= 24
// (type stripping); an older Node gets a clear message instead of a syntax error.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`bester: Node.js >= 24 is required (this is ${process.version}); run it with 'npx bester' in the project, or put Node 24 first on PATH\n`);
  process.exit(1);
}
await import('../src/cli/bester.ts');
