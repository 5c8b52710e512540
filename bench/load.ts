#!/usr/bin/env node
// Load generator for the relay flow "sender -> server -> relay handler -> server -> receiver,
// plus the sender's status report" (docs/performance.md). Every run is bounded in time.
//
//   node bench/load.ts [--target bester|bester-tls|bester-ws|baseline|nats|cluster|all, or a comma-separated list] [--pairs 8] [--window 16] [--size 100[,4096...]]
//                      [--seconds 10] [--warmup 2] [--handler-mode original|persistent] [--pipeline-depth N]
//                      [--generators N] [--baseline-connections 2] [--repeat N] [--matrix]
//
// Each run puts the load on for --warmup seconds, not counted (the JIT compiles the servers' code
// then), before its timed window of --seconds. The pairs are driven by --generators child
// processes (bench/generator.ts), each reporting its CPU and event-loop utilisation; a run where
// one was above 0.8 is flagged. Prints one JSON line
// per run, a table per load, then the medians over the --repeat rounds (targets interleaved) and
// bester's ratios to each baseline, and bester over TLS and WebSocket to bester over TCP. --matrix runs both
// handler modes, P=1 W=1 and P=8 W=16, 100 B and 4 KiB (docs/performance.md). bester-ws is besterd over
// WebSocket (not in "all"): `--target bester,bester-ws` compares it with TCP in the same run.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { natsInstalled } from './nats.ts';
import { compareRuns, runTable, saturationWarning, summary, type Comparison } from './report.ts';
import { run, type RunOptions, type RunResult } from './run.ts';
import type { HandlerMode, TargetName } from './targets.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** One load, every target, `repeat` interleaved rounds (bester, baseline, nats, bester, ...). */
async function compare(base: Omit<RunOptions, 'target'>, targets: TargetName[], repeat: number): Promise<Comparison> {
  const results: RunResult[] = [];
  for (let round = 0; round < repeat; round++) {
    for (const target of targets) {
      const r = await run({ ...base, target }, ROOT);
      console.log(JSON.stringify(r));
      const warning = saturationWarning(r);
      if (warning) console.log(warning);
      results.push(r);
    }
  }
  console.log(runTable(results));
  const comparison = compareRuns(base, targets, results);
  console.log(JSON.stringify({ comparison }));
  return comparison;
}

/**
 * Half the cores, at least two (never more than the pairs: bench/run.ts): with one generator
 * process, its event loop was the limit of the fast targets (issue 10).
 */
function defaultGenerators(): number {
  return Math.max(2, Math.floor(os.availableParallelism() / 2));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      target: { type: 'string', default: 'all' },
      pairs: { type: 'string', default: '8' },
      window: { type: 'string', default: '16' },
      size: { type: 'string', default: '100' },
      seconds: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      'handler-mode': { type: 'string', default: 'original' },
      'pipeline-depth': { type: 'string' },
      generators: { type: 'string' },
      'baseline-connections': { type: 'string', default: '2' },
      repeat: { type: 'string', default: '1' },
      matrix: { type: 'boolean', default: false },
    },
  });
  const nats = natsInstalled();
  if (!nats && (values.target === 'all' || values.target === 'nats')) {
    console.log('nats-server is not installed (Debian: apt-get install nats-server): NATS skipped');
  }
  // bester-tls: the same daemon with its clients over TLS (issue 13: >= 0.7x plain TCP at 4 KiB).
  const all: TargetName[] = nats ? ['bester', 'bester-tls', 'baseline', 'nats'] : ['bester', 'bester-tls', 'baseline'];
  const named = values.target.split(',').flatMap((t) => (t === 'all' ? all : [t as TargetName]));
  const targets = [...new Set(named)].filter((t) => t !== 'nats' || nats);
  if (targets.length === 0) process.exit(0);
  const repeat = Math.max(1, Math.min(10, Number(values.repeat)));
  const common = {
    seconds: Math.max(0.5, Math.min(120, Number(values.seconds))),
    warmup: Math.max(0, Math.min(60, Number(values.warmup))),
    generators: Math.max(1, Math.min(32, Number(values.generators ?? defaultGenerators()))),
    baselineConnections: Math.max(1, Math.min(64, Number(values['baseline-connections']))),
    ...(values['pipeline-depth'] !== undefined ? { pipelineDepth: Number(values['pipeline-depth']) } : {}),
  };
  const sizes = values.size.split(',').map(Number);
  // --matrix: the loads of docs/performance.md (both handler modes, P=1 W=1 and P=8 W=16, 100 B and 4 KiB).
  const loads = values.matrix
    ? (['original', 'persistent'] as const).flatMap((handlerMode) =>
        [[1, 1], [8, 16]].flatMap(([pairs, window]) => [100, 4096].map((size) => ({ handlerMode, pairs: pairs!, window: window!, size }))),
      )
    : sizes.map((size) => ({ handlerMode: values['handler-mode'] as HandlerMode, pairs: Number(values.pairs), window: Number(values.window), size }));
  const rows: Comparison[] = [];
  for (const load of loads) rows.push(await compare({ ...load, ...common }, targets, repeat));
  console.log(summary(rows));
}
