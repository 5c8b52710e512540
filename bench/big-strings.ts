#!/usr/bin/env node
// What one big JavaScript string costs the event loop (docs/federation.md §9): a frame's bytes
// turned into a string (`toString('latin1')`, the cheapest way there is: no UTF-8 decoding at all), per
// size, with the CPU time split into user and system. Run in a child started with the daemon's
// own Node flags and environment (src/cli/daemon-node-flags.ts), as besterd runs.
//
//   node bench/big-strings.ts [--rounds 300]
//   MALLOC_MMAP_THRESHOLD_=4194304 node bench/big-strings.ts   # another threshold for the Buffers
//
// Strings of more than about 128 KiB go to V8's large-object space: each one is memory mapped
// when made and given back after a collection, so its cost is page faults and collections, not
// copying; the figures show from which size on that dominates.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../src/cli/daemon-node-flags.ts';

const SIZES = [16_000, 64_000, 128_000, 256_000, 879_000];

if (process.argv[2] === '--child') {
  const rounds = Number(process.argv[3]);
  const kept: string[] = [];
  for (const size of SIZES) {
    const bytes = Buffer.from('x'.repeat(size));
    for (let i = 0; i < 20; i++) bytes.toString('latin1');
    const cpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) {
      const text = bytes.toString('latin1');
      if (i % 50 === 0) kept.push(text); // a few outlive a young collection, as a message in progress does
    }
    const wallMs = Number(process.hrtime.bigint() - start) / 1e6 / rounds;
    const used = process.cpuUsage(cpu);
    const line = { size, msPerString: +wallMs.toFixed(3), userMs: +(used.user / 1000 / rounds).toFixed(3), systemMs: +(used.system / 1000 / rounds).toFixed(3), mbPerSec: Math.round(size / 1000 / wallMs) };
    // The same size as a fresh Buffer, filled (a frame assembled from socket reads, a frame written):
    // malloc's memory, not V8's; with the daemon's MALLOC_MMAP_THRESHOLD_ each one is mapped anew.
    const bufferCpu = process.cpuUsage();
    const bufferStart = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) Buffer.allocUnsafe(size).fill(120);
    const bufferMs = Number(process.hrtime.bigint() - bufferStart) / 1e6 / rounds;
    const bufferUsed = process.cpuUsage(bufferCpu);
    const buffer = { msPerBuffer: +bufferMs.toFixed(3), bufferSystemMs: +(bufferUsed.system / 1000 / rounds).toFixed(3) };
    process.stdout.write(`${JSON.stringify({ ...line, ...buffer })}\n`);
    kept.length = 0;
  }
} else {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '300' } } });
  const rounds = Math.max(1, Math.min(10_000, Number(values.rounds)));
  const child = spawnSync(process.execPath, [...DAEMON_NODE_FLAGS, import.meta.filename, '--child', String(rounds)], {
    env: { ...DAEMON_ENV, ...process.env }, // MALLOC_MMAP_THRESHOLD_ set by the caller wins: compare
    encoding: 'utf8',
  });
  if (child.status !== 0) {
    process.stderr.write(child.stderr);
    process.exit(1);
  }
  process.stdout.write(`bytes -> string (toString latin1), ${rounds} each, daemon's Node flags ${DAEMON_NODE_FLAGS.join(' ')}\n`);
  process.stdout.write(`MALLOC_MMAP_THRESHOLD_=${process.env['MALLOC_MMAP_THRESHOLD_'] ?? DAEMON_ENV['MALLOC_MMAP_THRESHOLD_']}\n`);
  process.stdout.write('size | ms per string | user ms | system ms | MB/s | ms per fresh Buffer filled | its system ms\n');
  for (const line of child.stdout.trim().split('\n')) {
    const r = JSON.parse(line) as { size: number; msPerString: number; userMs: number; systemMs: number; mbPerSec: number; msPerBuffer: number; bufferSystemMs: number };
    process.stdout.write(`${r.size} | ${r.msPerString} | ${r.userMs} | ${r.systemMs} | ${r.mbPerSec} | ${r.msPerBuffer} | ${r.bufferSystemMs}\n`);
  }
}
