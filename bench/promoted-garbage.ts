// Loaded into the daemon with `node --import` (BESTER_BENCH_DAEMON_FLAGS, docs/performance.md
// "Original mode: what a finished message held"): V8's sampling heap profiler, counting the objects
// that are still alive or were freed by a full collection, and not those a scavenge freed. What
// dies young costs little; what it lists lived long enough to be moved to the old generation, and
// when it is garbage soon after, that is what makes full collections frequent. After a delay it
// samples for a while and writes the allocation sites holding the most bytes, with three callers
// each, to DIR/promoted.<pid>.txt.
//
//   BESTER_BENCH_PROMOTED_DIR=/tmp BESTER_BENCH_DAEMON_FLAGS="--import=./bench/promoted-garbage.ts" \
//     node bench/load.ts --target bester --handler-mode original --size 4096 --seconds 8 --repeat 1
//
// BESTER_BENCH_PROMOTED_AFTER_MS (default 3500: past the bench's start and warm-up) and
// BESTER_BENCH_PROMOTED_FOR_MS (default 5000) set when and how long it samples.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

const dir = process.env['BESTER_BENCH_PROMOTED_DIR'];
const isDaemon = process.argv.some((a) => /besterd\.(ts|js)$/.test(a));
if (dir !== undefined && isDaemon) {
  const after = Number(process.env['BESTER_BENCH_PROMOTED_AFTER_MS'] ?? 3500);
  const span = Number(process.env['BESTER_BENCH_PROMOTED_FOR_MS'] ?? 5000);
  const session = new Session();
  session.connect();
  const start = {
    samplingInterval: 16384,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: false,
  };
  setTimeout(() => {
    session.post('HeapProfiler.startSampling', start, (err) => {
      if (err) return;
      setTimeout(() => session.post('HeapProfiler.getSamplingProfile', (error, result) => {
        if (error) return;
        writeFileSync(path.join(dir, `promoted.${process.pid}.txt`), report((result as { profile: { head: ProfileNode } }).profile.head, span));
        session.disconnect();
      }), span).unref();
    });
  }, after).unref();
}

/** The sites with the most bytes sampled (MB over the sampling time), each with three callers. */
function report(head: ProfileNode, span: number): string {
  const sites = new Map<string, number>();
  const walk = (node: ProfileNode, callers: string[]): void => {
    const { functionName, url, lineNumber } = node.callFrame;
    const here = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
    const stack = [here, ...callers].slice(0, 4);
    if (node.selfSize > 0) {
      const key = stack.join(' < ');
      sites.set(key, (sites.get(key) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child, stack);
  };
  walk(head, []);
  const top = [...sites].sort((a, b) => b[1] - a[1]).slice(0, 40);
  const lines = top.map(([site, bytes]) => `${(bytes / 1e6).toFixed(2).padStart(8)} MB  ${site}`);
  return `bytes alive or freed by full collections, sampled over ${span} ms, by allocation site\n${lines.join('\n')}\n`;
}
