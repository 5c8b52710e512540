// Loaded into a daemon with `node --import` (bench/federation-faults.ts --profile DIR): samples its
// memory every 20 ms and keeps, per figure, the highest seen (MB) in DIR/memory.<pid>.json (written
// every second and at exit): RSS, the JS heap, external memory and array buffers, and each V8 heap
// space; and its garbage collections (count, longest pause). It shows where the RSS of a flood goes
// (young generation, large objects, buffers) without a heap snapshot's pause.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

const dir = process.env['BESTER_BENCH_MEMORY_DIR'];
if (dir !== undefined && process.argv.some((a) => a.endsWith('besterd.js'))) {
  const file = path.join(dir, `memory.${process.pid}.json`);
  const highest: Record<string, number> = {};
  // Garbage collections: how many of each kind, the longest pause of each (ms), and their total.
  const kinds: Record<number, string> = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  const gc: Record<string, number> = { totalMs: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as unknown as { detail?: { kind?: number } }).detail;
      const kind = kinds[detail?.kind ?? -1] ?? 'other';
      gc[kind] = (gc[kind] ?? 0) + 1;
      gc[`${kind}MaxMs`] = Math.max(gc[`${kind}MaxMs`] ?? 0, Number(entry.duration.toFixed(1)));
      gc['totalMs'] = Number((gc['totalMs']! + entry.duration).toFixed(1));
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  let samples = 0;
  const write = (): void => writeFileSync(file, `${JSON.stringify({ ...highest, gc })}\n`);
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    const now: Record<string, number> = { rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
    for (const space of getHeapSpaceStatistics()) if (space.space_size > 0) now[space.space_name] = space.space_size;
    for (const [k, v] of Object.entries(now)) highest[k] = Math.max(highest[k] ?? 0, Math.round(v / 1048576));
    if (++samples % 50 === 0) write(); // once a second, and at exit: the file costs no time of its own
  }, 20);
  timer.unref();
  process.on('exit', write);
}
