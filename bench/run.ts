// One run: start a target, fork the generator processes (each owns some of the pairs), let them
// connect, start them together, let the load run for the warm-up, count the server processes' CPU
// over the timed window after it, and add
// the generators' counts, latencies, CPU and event-loop utilisation up.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GeneratorResult } from './generator.ts';
import type { GeneratorConfig } from './generator-state.ts';
import { cpuUs, Histogram, rssMb } from './measure.ts';
import { startTarget, type TargetOptions } from './targets.ts';

/** Above this event-loop utilisation a generator may be what limits the run: the run is flagged. */
export const GENERATOR_ELU_LIMIT = 0.8;

export interface RunOptions extends TargetOptions {
  window: number;
  size: number;
  seconds: number;
  /**
   * Seconds of load before the timed window, not counted: the daemon's code is compiled by the
   * JIT in its first seconds of load (more code than the relay's: more to compile), and a window
   * from the first message counted that as the cost of a message.
   */
  warmup: number;
  /** Generator processes; each drives about pairs / generators pairs. */
  generators: number;
}

export interface GeneratorFigures {
  pairs: string;
  elu: number;
  /** CPU time over the timed window as a share of one core, percent. */
  cpuPct: number;
}

export interface RunResult extends RunOptions {
  delivered: number;
  acknowledged: number;
  refused: number;
  lost: number;
  deliveredPerSec: number;
  acknowledgedPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** The processes counted in serverCpuUsPerMsg and handlerCpuUsPerMsg. */
  counted: { server: string; handler: string | null };
  serverCpuUsPerMsg: number;
  handlerCpuUsPerMsg: number | null;
  serverRssMb: number;
  generator: { perProcess: GeneratorFigures[]; maxElu: number; cpuUsPerMsg: number };
  /** Some generator's ELU was above GENERATOR_ELU_LIMIT: the generator may have been the limit. */
  generatorSaturated: boolean;
  /** The cluster target: Redis commands and CPU per delivery, and Redis's CPU use over the window (% of one core). */
  redis?: { commandsPerMsg: number; cpuUsPerMsg: number; cpuPct: number };
}

const round = (x: number, digits = 0): number => Math.round(x * 10 ** digits) / 10 ** digits;

function spawnGenerator(root: string, cfg: GeneratorConfig): { child: ChildProcess; ready: Promise<void>; result: Promise<GeneratorResult> } {
  const child = fork(path.join(root, 'bench/generator.ts'), [JSON.stringify(cfg)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.on('error', () => undefined);
  // 'close' rather than 'exit': it comes after the IPC channel has delivered the last message.
  const exited = new Promise<never>((_, reject) => child.once('close', (code) => reject(new Error(`generator ${cfg.from}-${cfg.to - 1} exited (${code})`))));
  exited.catch(() => undefined);
  const message = (type: string): Promise<never> | Promise<GeneratorResult> =>
    Promise.race([
      exited,
      new Promise<GeneratorResult>((resolve) => {
        const on = (m: GeneratorResult | { type: string }): void => {
          if (m.type !== type) return;
          child.off('message', on);
          resolve(m as GeneratorResult);
        };
        child.on('message', on);
      }),
    ]);
  return { child, ready: message('ready').then(() => undefined), result: message('result') };
}

/** Rejects after `ms` with `what` timed out, unless `p` settles first. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out`)), ms)))]).finally(() => clearTimeout(timer));
}

export async function run(o: RunOptions, root: string): Promise<RunResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  const target = await startTarget(o, root, dir);
  const generators: Array<ReturnType<typeof spawnGenerator>> = [];
  try {
    const count = Math.max(1, Math.min(o.generators, o.pairs));
    for (let g = 0; g < count; g++) {
      const from = Math.floor((g * o.pairs) / count);
      const to = Math.floor(((g + 1) * o.pairs) / count);
      const ports = target.ports ? { ports: target.ports } : {};
      generators.push(spawnGenerator(root, { kind: target.kind, port: target.port, ...ports, ...(target.tls ? { tls: target.tls } : {}), from, to, window: o.window, size: o.size, seconds: o.seconds }));
    }
    await within(Promise.all(generators.map((g) => g.ready)), 120_000, 'generators connecting');
    for (const g of generators) g.child.send({ type: 'go' });
    await sleep(o.warmup * 1000);
    const handler = target.handler();
    const servers = target.servers?.() ?? [target.server];
    const serversCpu = (): number => servers.reduce((sum, s) => sum + cpuUs(s.pid), 0);
    const server0 = serversCpu();
    const redis0 = target.redis?.();
    const handler0 = handler ? cpuUs(handler.pid) : 0;
    const t0 = performance.now();
    for (const g of generators) g.child.send({ type: 'window' });
    await sleep(o.seconds * 1000);
    const serverCpu = serversCpu() - server0;
    const redis1 = target.redis?.();
    const handlerCpu = handler ? cpuUs(handler.pid) - handler0 : 0;
    const elapsed = (performance.now() - t0) / 1000;
    const serverRss = rssMb(target.server.pid);
    const results = await within(Promise.all(generators.map((g) => g.result)), 30_000, 'generators reporting');
    const r = figures(o, results, elapsed, { server: target.server.name, handler: handler?.name ?? null }, serverCpu, handler ? handlerCpu : null, serverRss);
    if (!redis0 || !redis1) return r;
    const per = (n: number): number => round(n / Math.max(1, r.delivered), 1);
    return { ...r, redis: { commandsPerMsg: per(redis1.calls - redis0.calls), cpuUsPerMsg: per(redis1.cpuUs - redis0.cpuUs), cpuPct: round((redis1.cpuUs - redis0.cpuUs) / (elapsed * 1e4)) } };
  } finally {
    // A generator exits by itself after its result (and writes its --cpu-prof then, if asked).
    for (let i = 0; i < 40 && generators.some((g) => g.child.exitCode === null && g.child.signalCode === null); i++) await sleep(50);
    for (const g of generators) if (g.child.exitCode === null && g.child.signalCode === null) g.child.kill('SIGKILL');
    await target.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function figures(o: RunOptions, results: GeneratorResult[], elapsed: number, counted: RunResult['counted'], serverCpu: number, handlerCpu: number | null, serverRss: number): RunResult {
  const latencies = new Histogram();
  let delivered = 0;
  let acknowledged = 0;
  let sent = 0;
  let deliveredTotal = 0;
  let refused = 0;
  let generatorCpu = 0;
  for (const r of results) {
    latencies.add(r.latencies);
    delivered += r.delivered;
    acknowledged += r.acknowledged;
    sent += r.sent;
    deliveredTotal += r.deliveredTotal;
    refused += r.refused;
    generatorCpu += r.cpuUs;
  }
  const perProcess = results.map((r) => ({ pairs: `${r.from}-${r.to - 1}`, elu: round(r.elu, 2), cpuPct: round((r.cpuUs / (r.elapsedMs * 1000)) * 100) }));
  const maxElu = Math.max(...results.map((r) => r.elu));
  const perMsg = (us: number): number => round(us / Math.max(1, delivered), 1);
  return {
    ...o,
    generators: results.length,
    delivered,
    acknowledged,
    refused,
    lost: sent - deliveredTotal - refused,
    deliveredPerSec: Math.round(delivered / elapsed),
    acknowledgedPerSec: Math.round(acknowledged / elapsed),
    latencyMs: { p50: latencies.percentileMs(50), p90: latencies.percentileMs(90), p99: latencies.percentileMs(99), max: latencies.percentileMs(100) },
    counted,
    serverCpuUsPerMsg: perMsg(serverCpu),
    handlerCpuUsPerMsg: handlerCpu === null ? null : perMsg(handlerCpu),
    serverRssMb: serverRss,
    generator: { perProcess, maxElu: round(maxElu, 2), cpuUsPerMsg: perMsg(generatorCpu) },
    generatorSaturated: maxElu > GENERATOR_ELU_LIMIT,
  };
}
