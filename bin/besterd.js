#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=16
// Entry point of `besterd`. In the checkout it runs the TypeScript sources directly (Node.js >= 24
// strips the types); `npm run build` copies it to dist/bin/ pointing at the compiled lib/ instead
// (scripts/build.ts). An older Node gets a clear message instead of a syntax error.
// The first line's flags are src/cli/daemon-node-flags.ts (docs/operations.md "Tuning", Memory).
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `besterd: Node.js >= 24 is required (this is ${process.version}): put Node.js 24 first on PATH ` +
      `(in a Bester checkout, 'npx besterd' run in its folder does that with the Node.js it installed)\n`,
  );
  process.exit(1);
}
await import('../src/cli/besterd.ts');
