// A histogram with one label, counted by an event listener with a few array writes, and written in
// the Prometheus text format (0.0.4) by itself: prom-client's Histogram validates and hashes its
// labels on every observe (about 0.5 µs, more than the rest of the metrics together), and has no
// way to be given counts made elsewhere. Its output is appended to the registry's (metrics.ts).

interface Series {
  /** Observations per bucket, not cumulative; the last one is above every bound (+Inf). */
  readonly counts: number[];
  sum: number;
}

export class LatencyHistogram {
  readonly #name: string;
  readonly #help: string;
  readonly #labelName: string;
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, Series>();

  /** `bounds`: the buckets' upper bounds, ascending. */
  constructor(name: string, help: string, labelName: string, bounds: readonly number[]) {
    this.#name = name;
    this.#help = help;
    this.#labelName = labelName;
    this.#bounds = bounds;
  }

  /** Makes the series of `label` exist, at 0. */
  zero(label: string): void {
    this.#get(label);
  }

  observe(label: string, value: number): void {
    const series = this.#get(label);
    let i = 0;
    while (i < this.#bounds.length && value > (this.#bounds[i] ?? Infinity)) i++;
    series.counts[i] = (series.counts[i] ?? 0) + 1;
    series.sum += value;
  }

  /** The text format: HELP, TYPE, then per series its cumulative buckets (`le`), `_sum` and `_count`. */
  text(): string {
    const lines = [`# HELP ${this.#name} ${escapeHelp(this.#help)}`, `# TYPE ${this.#name} histogram`];
    for (const [label, series] of this.#series) {
      const labelPair = `${this.#labelName}="${escapeLabel(label)}"`;
      let cumulative = 0;
      series.counts.forEach((n, i) => {
        cumulative += n;
        const le = i < this.#bounds.length ? String(this.#bounds[i]) : '+Inf';
        lines.push(`${this.#name}_bucket{le="${le}",${labelPair}} ${cumulative}`);
      });
      lines.push(`${this.#name}_sum{${labelPair}} ${series.sum}`, `${this.#name}_count{${labelPair}} ${cumulative}`);
    }
    return `${lines.join('\n')}\n`;
  }

  #get(label: string): Series {
    let series = this.#series.get(label);
    if (series === undefined) {
      series = { counts: new Array<number>(this.#bounds.length + 1).fill(0), sum: 0 };
      this.#series.set(label, series);
    }
    return series;
  }
}

/** Label values: backslash, double quote and line feed escaped (the text format, 0.0.4). */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text: backslash and line feed escaped. */
function escapeHelp(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
