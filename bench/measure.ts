// What every benchmark process shares: CPU time and memory of other processes from /proc, the
// latency histogram the generators fill and the parent merges, and the medians of the rounds.
import { readdirSync, readFileSync } from 'node:fs';

/** utime + stime of a process, in microseconds (Linux /proc); 0 once it has gone. */
export function cpuUs(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1_000_000) / 100; // CLK_TCK is 100 on Linux
}

export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : 0;
  } catch {
    return 0;
  }
}

/** The ids of the processes whose parent is `pid` (e.g. the handler besterd started). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Bucket width of the latency histogram, in µs; the last bucket holds everything above 2 s. */
const BUCKET_US = 10;
const BUCKETS = 200_000;

/**
 * Latencies in 10 µs buckets: a generator records each delivery in O(1) without keeping the
 * samples, and the parent adds the generators' histograms up before taking percentiles.
 */
export class Histogram {
  readonly counts = new Uint32Array(BUCKETS);
  count = 0;
  maxUs = 0;

  record(us: number): void {
    const i = us <= 0 ? 0 : Math.min(BUCKETS - 1, Math.floor(us / BUCKET_US));
    this.counts[i]!++;
    this.count++;
    if (us > this.maxUs) this.maxUs = us;
  }

  /** The non-empty buckets as [index, count] pairs, small enough to send over IPC. */
  toSparse(): { buckets: Array<[number, number]>; maxUs: number } {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) buckets.push([i, this.counts[i]!]);
    return { buckets, maxUs: this.maxUs };
  }

  add(sparse: { buckets: Array<[number, number]>; maxUs: number }): void {
    for (const [i, n] of sparse.buckets) {
      this.counts[i]! += n;
      this.count += n;
    }
    if (sparse.maxUs > this.maxUs) this.maxUs = sparse.maxUs;
  }

  /** The p-th percentile in ms (the upper edge of its bucket), two decimals. */
  percentileMs(p: number): number {
    if (this.count === 0) return 0;
    if (p >= 100) return Math.round(this.maxUs / 10) / 100;
    const rank = Math.min(this.count, Math.max(1, Math.ceil((p / 100) * this.count)));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.round(((i + 1) * BUCKET_US) / 10) / 100;
    }
    return Math.round(this.maxUs / 10) / 100;
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return 0;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
