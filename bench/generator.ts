#!/usr/bin/env node
// One load-generator process (bench/load.ts forks several, each owning some of the pairs, so that
// no single event loop limits a run). Protocol with the parent over the IPC channel:
//   child: {type: "ready"} once its connections are up (and logged in);
//   parent: {type: "go"}: the load starts now (the warm-up, not counted);
//   parent: {type: "window"}: the timed window starts now;
//   child: {type: "result", ...} after the window and the drain (at most 5 s), then it exits.
// The result carries this process's CPU time and event-loop utilisation over the timed window,
// so the parent can tell whether the generator was the limit.
//   node bench/generator.ts '<GeneratorConfig as JSON>'
import { setTimeout as sleep } from 'node:timers/promises';
import { openFramePairs } from './frame-driver.ts';
import { type GeneratorConfig, GeneratorState } from './generator-state.ts';
import { Histogram } from './measure.ts';
import { openNatsPairs } from './nats-driver.ts';

export interface GeneratorResult {
  type: 'result';
  from: number;
  to: number;
  /** Counted during the timed window. */
  delivered: number;
  acknowledged: number;
  /** Counted up to the end of the drain. */
  sent: number;
  deliveredTotal: number;
  refused: number;
  elapsedMs: number;
  /** user + system CPU of this process over the timed window, µs. */
  cpuUs: number;
  /** performance.eventLoopUtilization() over the timed window (0..1). */
  elu: number;
  latencies: { buckets: Array<[number, number]>; maxUs: number };
}

async function main(cfg: GeneratorConfig): Promise<void> {
  if (!process.send) throw new Error('bench/generator.ts runs as a child of bench/load.ts');
  // The parent's end is our end: never outlive it.
  process.on('disconnect', () => process.exit(1));
  const st = new GeneratorState();
  const driver = cfg.kind === 'nats' ? await openNatsPairs(cfg, st) : await openFramePairs(cfg, st);
  const told = (type: string): Promise<void> =>
    new Promise<void>((resolve) => {
      process.on('message', (m: { type?: string }) => {
        if (m.type === type) resolve();
      });
    });
  const go = told('go');
  const timed = told('window');
  process.send({ type: 'ready' });
  await go;
  driver.start();
  // The warm-up: the load runs, nothing is counted, until the parent starts the timed window.
  await timed;
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const delivered0 = st.delivered;
  const acknowledged0 = st.acknowledged;
  st.latencies = new Histogram();
  await sleep(cfg.seconds * 1000);
  st.sending = false;
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0).utilization;
  const delivered = st.delivered - delivered0;
  const acknowledged = st.acknowledged - acknowledged0;
  for (let i = 0; i < 50 && st.delivered + st.refused < st.sent; i++) await sleep(100);
  const result: GeneratorResult = {
    type: 'result',
    from: cfg.from,
    to: cfg.to,
    delivered,
    acknowledged,
    sent: st.sent,
    deliveredTotal: st.delivered,
    refused: st.refused,
    elapsedMs,
    cpuUs: cpu.user + cpu.system,
    elu,
    latencies: st.latencies.toSparse(),
  };
  await driver.close();
  process.send(result, () => process.exit(0));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main(JSON.parse(process.argv[2] ?? '{}') as GeneratorConfig);
}
