// What every benchmark target shares: a run's counters, the timed window, the drain, and the
// figures (throughput, latency percentiles, server CPU per message, RSS) from /proc.
import { readFileSync } from 'node:fs';
import type { RunOptions, RunResult } from './load.ts';

/** utime + stime of a process, in microseconds (Linux /proc). */
export function cpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1_000_000) / 100; // CLK_TCK is 100 on Linux
}

export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : 0;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 100) / 100;
}

/** Counted by the target's senders and receivers while a run goes on. */
export class Counters {
  readonly latencies = new Float64Array(20_000_000);
  delivered = 0;
  acknowledged = 0;
  sent = 0;
  /** Senders send a new message for each acknowledgement while this is true. */
  sending = true;

  /** A receiver got a message that was sent at `t` (performance.now()). */
  deliveredAt(t: number): void {
    if (this.delivered < this.latencies.length) this.latencies[this.delivered] = performance.now() - t;
    this.delivered++;
  }
}

/**
 * Starts the senders, lets them run for `o.seconds`, stops them, drains what is in flight
 * (at most 5 s) and computes the figures for the server process `pid`.
 */
export async function measure(o: RunOptions, pid: number, c: Counters, startSending: () => void): Promise<RunResult> {
  const cpu0 = cpuUs(pid);
  const t0 = performance.now();
  startSending();
  await new Promise((r) => setTimeout(r, o.seconds * 1000));
  c.sending = false;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu1 = cpuUs(pid);
  const delivered = c.delivered;
  const acknowledged = c.acknowledged;
  for (let i = 0; i < 50 && c.delivered < c.sent; i++) await new Promise((r) => setTimeout(r, 100));
  const sorted = c.latencies.slice(0, Math.min(c.delivered, c.latencies.length)).sort();
  return {
    ...o,
    delivered,
    acknowledged,
    lost: c.sent - c.delivered,
    deliveredPerSec: Math.round(delivered / elapsed),
    acknowledgedPerSec: Math.round(acknowledged / elapsed),
    latencyMs: { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: percentile(sorted, 100) },
    serverCpuUsPerMsg: Math.round((cpu1 - cpu0) / Math.max(1, delivered)),
    serverRssMb: rssMb(pid),
  };
}
