// What bench/load.ts prints: a table of the runs of one load, the comparison of the targets over
// the rounds (medians, bester's ratios), and the summary of all loads.
import { median } from './measure.ts';
import { GENERATOR_ELU_LIMIT, type RunOptions, type RunResult } from './run.ts';
import type { TargetName } from './targets.ts';

const round1 = (x: number): number => Math.round(x * 10) / 10;

export function runTable(results: RunResult[]): string {
  const rows = results.map((r) =>
    [
      r.target,
      r.handlerMode,
      `P=${r.pairs} W=${r.window}`,
      `${r.size} B`,
      r.deliveredPerSec,
      r.latencyMs.p50,
      r.latencyMs.p99,
      `${r.serverCpuUsPerMsg} (${r.counted.server})`,
      r.handlerCpuUsPerMsg === null ? '-' : `${r.handlerCpuUsPerMsg} (${r.counted.handler})`,
      r.serverRssMb,
      r.generator.perProcess.map((g) => `${g.elu}/${g.cpuPct}%`).join(' '),
      r.lost,
      r.generatorSaturated ? 'GENERATOR-LIMITED' : '',
    ].join(' | '),
  );
  return [
    'target | handler mode | load | size | msgs/s | p50 ms | p99 ms | server µs/msg | handler µs/msg | RSS MB | generators ELU/CPU | lost | flag',
    ...rows,
  ].join('\n');
}

/** The line printed after each run whose generator may have been the limit. */
export function saturationWarning(r: RunResult): string | null {
  if (!r.generatorSaturated) return null;
  return `WARNING: generator event-loop utilisation ${r.generator.maxElu} > ${GENERATOR_ELU_LIMIT} (${r.target}, ${r.handlerMode}, P=${r.pairs} W=${r.window}, ${r.size} B): the load generator may have limited this run; use more --generators or a quieter machine`;
}

export interface TargetMedians {
  msgsPerSec: number;
  /** The server process's CPU per delivery (besterd, the minimal relay, nats-server). */
  serverCpuUsPerMsg: number;
  /** Server + handler side (relay handler or NATS relay service) per delivery. */
  totalCpuUsPerMsg: number | null;
  p99Ms: number;
}

export interface Comparison {
  readonly handlerMode: RunOptions['handlerMode'];
  readonly pairs: number;
  readonly window: number;
  readonly size: number;
  readonly medians: Partial<Record<TargetName, TargetMedians>>;
  /** bester's median msgs/s over each other target's, in percent. */
  readonly ratios: Partial<Record<'baseline' | 'nats', number>>;
  /**
   * bester's CPU per message over the other target's, in percent: against the minimal relay the
   * server processes alone (same handler); against NATS server + handler side (nats-server +
   * relay service), since NATS has no separate handler.
   */
  readonly cpuRatios: Partial<Record<'baseline' | 'nats', number>>;
  /**
   * The same ratios taken round by round (bester's run over the other target's run of the same
   * round), their median: the rounds are interleaved, so a phase of the machine that slows one
   * round slows both sides of its ratio, where the ratio of the medians can pair a fast round of
   * one side with a slow one of the other.
   */
  readonly roundRatios: {
    readonly baseline?: number;
    readonly nats?: number;
    readonly cpuBaseline?: number;
  };
  /** bester-tls's median msgs/s over bester's (the same daemon, clients over TLS vs plain TCP), percent. */
  readonly tlsRatio: number | null;
  /** Each other transport of besterd (bester-ws) in msgs/s over bester's on TCP, in percent. */
  readonly overTcp: Partial<Record<TargetName, number>>;
  readonly lost: number;
  /** Runs whose generator ELU was above the limit. */
  readonly generatorLimitedRuns: number;
  readonly generatorMaxElu: number;
}

export function compareRuns(base: Omit<RunOptions, 'target'>, targets: TargetName[], results: RunResult[]): Comparison {
  const medians: Comparison['medians'] = {};
  for (const target of targets) {
    const runs = results.filter((r) => r.target === target);
    const totals = runs.map((r) => (r.handlerCpuUsPerMsg === null ? null : r.serverCpuUsPerMsg + r.handlerCpuUsPerMsg));
    medians[target] = {
      msgsPerSec: Math.round(median(runs.map((r) => r.deliveredPerSec))),
      serverCpuUsPerMsg: round1(median(runs.map((r) => r.serverCpuUsPerMsg))),
      totalCpuUsPerMsg: totals.includes(null) ? null : round1(median(totals as number[])),
      p99Ms: median(runs.map((r) => r.latencyMs.p99)),
    };
  }
  const bester = medians.bester;
  const ratios: Comparison['ratios'] = {};
  const cpuRatios: Comparison['cpuRatios'] = {};
  const pct = (a: number, b: number): number => Math.round((a / b) * 100);
  if (bester) {
    const baseline = medians.baseline;
    if (baseline && baseline.msgsPerSec > 0) ratios.baseline = pct(bester.msgsPerSec, baseline.msgsPerSec);
    if (baseline && baseline.serverCpuUsPerMsg > 0) cpuRatios.baseline = pct(bester.serverCpuUsPerMsg, baseline.serverCpuUsPerMsg);
    const nats = medians.nats;
    if (nats && nats.msgsPerSec > 0) ratios.nats = pct(bester.msgsPerSec, nats.msgsPerSec);
    if (nats?.totalCpuUsPerMsg && bester.totalCpuUsPerMsg !== null) cpuRatios.nats = pct(bester.totalCpuUsPerMsg, nats.totalCpuUsPerMsg);
  }
  const roundRatios = roundByRound(results);
  const overTls = medians['bester-tls'];
  const tlsRatio = overTls && bester && bester.msgsPerSec > 0 ? pct(overTls.msgsPerSec, bester.msgsPerSec) : null;
  const overTcp: Comparison['overTcp'] = {};
  for (const target of targets) {
    const other = medians[target];
    if (target.startsWith('bester-') && other && bester && bester.msgsPerSec > 0) overTcp[target] = pct(other.msgsPerSec, bester.msgsPerSec);
  }
  return {
    handlerMode: base.handlerMode,
    pairs: base.pairs,
    window: base.window,
    size: base.size,
    medians,
    ratios,
    cpuRatios,
    roundRatios,
    tlsRatio,
    overTcp,
    lost: results.reduce((sum, r) => sum + r.lost, 0),
    generatorLimitedRuns: results.filter((r) => r.generatorSaturated).length,
    generatorMaxElu: Math.max(...results.map((r) => r.generator.maxElu)),
  };
}

/** Comparison.roundRatios: the i-th run of bester against the i-th of each other target (the same round). */
function roundByRound(results: RunResult[]): Comparison['roundRatios'] {
  const runsOf = (target: TargetName): RunResult[] => results.filter((r) => r.target === target);
  const bester = runsOf('bester');
  if (bester.length === 0) return {};
  const paired = (other: RunResult[], of: (r: RunResult) => number): number | undefined => {
    const each: number[] = [];
    for (let i = 0; i < Math.min(bester.length, other.length); i++) if (of(other[i]!) > 0) each.push(of(bester[i]!) / of(other[i]!));
    return each.length === 0 ? undefined : Math.round(median(each) * 100);
  };
  const ratios: { baseline?: number; nats?: number; cpuBaseline?: number } = {};
  const baseline = runsOf('baseline');
  const nats = runsOf('nats');
  if (baseline.length > 0) {
    ratios.baseline = paired(baseline, (r) => r.deliveredPerSec);
    ratios.cpuBaseline = paired(baseline, (r) => r.serverCpuUsPerMsg);
  }
  if (nats.length > 0) ratios.nats = paired(nats, (r) => r.deliveredPerSec);
  return ratios;
}

export function summary(rows: Comparison[]): string {
  const head =
    'mode | load | size | bester msgs/s | over TLS | baseline | NATS | TLS / TCP | bester / baseline | bester / NATS | server µs/msg bester / TLS / baseline / NATS | CPU ratio vs baseline / NATS | p99 ms bester / TLS / NATS | generator max ELU | lost';
  const cell = (x: number | null | undefined, unit = ''): string => (x === undefined || x === null ? '-' : `${x}${unit}`);
  const lines = rows.map((c) =>
    [
      c.handlerMode,
      `P=${c.pairs} W=${c.window}`,
      `${c.size} B`,
      cell(c.medians.bester?.msgsPerSec),
      cell(c.medians['bester-tls']?.msgsPerSec),
      cell(c.medians.baseline?.msgsPerSec),
      cell(c.medians.nats?.msgsPerSec),
      cell(c.tlsRatio, '%'),
      cell(c.ratios.baseline, '%'),
      cell(c.ratios.nats, '%'),
      [c.medians.bester, c.medians['bester-tls'], c.medians.baseline, c.medians.nats].map((m) => cell(m?.serverCpuUsPerMsg)).join(' / '),
      `${cell(c.cpuRatios.baseline, '%')} / ${cell(c.cpuRatios.nats, '%')}`,
      [c.medians.bester, c.medians['bester-tls'], c.medians.nats].map((m) => cell(m?.p99Ms)).join(' / '),
      `${c.generatorMaxElu}${c.generatorLimitedRuns > 0 ? ` (${c.generatorLimitedRuns} runs over ${GENERATOR_ELU_LIMIT}: WARNING)` : ''}`,
      c.lost,
    ].join(' | '),
  );
  // The same ratios round by round (Comparison.roundRatios), where there was more than one round.
  const byRound = rows.flatMap((c) => {
    const r = c.roundRatios;
    if (r.baseline === undefined && r.nats === undefined) return [];
    return [`round by round (median of each round's ratio), ${c.handlerMode} P=${c.pairs} W=${c.window} ${c.size} B: bester / baseline ${cell(r.baseline, '%')}, bester / NATS ${cell(r.nats, '%')}, CPU vs baseline ${cell(r.cpuBaseline, '%')}`];
  });
  // besterd over its other transports, beside TCP in the same rounds (goal: WebSocket >= 70% at 100 B).
  const transports = rows.flatMap((c) =>
    Object.entries(c.overTcp).map(([target, ratio]) => {
      const m = c.medians[target as TargetName];
      return `${target} / bester (TCP), ${c.handlerMode} P=${c.pairs} W=${c.window} ${c.size} B: ${ratio}% (${m?.msgsPerSec} msgs/s, server ${m?.serverCpuUsPerMsg} µs/msg, p99 ${m?.p99Ms} ms)`;
    }),
  );
  return [
    'medians of the rounds; CPU ratio: bester server µs/msg over the baseline\'s, and bester (daemon + handler) over NATS (nats-server + relay service)',
    'targets (docs/performance.md, Targets): persistent mode at P=8 W=16 >= 100% of NATS with server CPU <= 1.3x the baseline\'s, original mode >= 90% of the baseline; over TLS >= 70% of plain TCP at 4 KiB, over WebSocket >= 70% at 100 B',
    head,
    ...lines,
    ...byRound,
    ...transports,
  ].join('\n');
}
