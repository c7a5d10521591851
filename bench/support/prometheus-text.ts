// Reads the figures the scale benchmark needs out of a Prometheus text exposition (queryscaler's
// /metrics): counter values by label, and a histogram's quantile between two scrapes. Pure.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Every sample line of the text; comments and blank lines are skipped. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(trimmed);
    if (match === null) throw new Error(`not a Prometheus sample line: ${trimmed}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] as string] = pair[2] as string;
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/** Per value of `label`, how much the counter `name` grew from `before` to `after` (summed over other labels). */
export function counterGrowth(before: readonly Sample[], after: readonly Sample[], name: string, label: string): Record<string, number> {
  const sum = (samples: readonly Sample[]): Map<string, number> => {
    const totals = new Map<string, number>();
    for (const s of samples) if (s.name === name) totals.set(s.labels[label] ?? '', (totals.get(s.labels[label] ?? '') ?? 0) + s.value);
    return totals;
  };
  const start = sum(before);
  const growth: Record<string, number> = {};
  for (const [key, value] of sum(after)) {
    const delta = value - (start.get(key) ?? 0);
    if (delta > 0) growth[key] = delta;
  }
  return growth;
}

export interface HistogramWindow {
  count: number;
  /** The upper bound (le) of the bucket holding the quantile, in the histogram's unit; Infinity past the last bound. */
  upperBound(q: number): number;
}

/** The observations made between two scrapes of histogram `name` (a `_bucket` series per `le`). */
export function histogramWindow(before: readonly Sample[], after: readonly Sample[], name: string): HistogramWindow {
  const buckets = (samples: readonly Sample[]): Map<number, number> => {
    const byBound = new Map<number, number>();
    for (const s of samples) {
      if (s.name !== `${name}_bucket`) continue;
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      byBound.set(le, (byBound.get(le) ?? 0) + s.value);
    }
    return byBound;
  };
  const start = buckets(before);
  const cumulative = [...buckets(after)].map(([le, n]) => [le, n - (start.get(le) ?? 0)] as const).sort((a, b) => a[0] - b[0]);
  const count = cumulative.at(-1)?.[1] ?? 0;
  return {
    count,
    upperBound(q) {
      if (!(q > 0 && q <= 1)) throw new RangeError(`quantile must be in (0, 1], got ${q}`);
      if (count === 0) throw new RangeError(`histogram ${name} has no observations in the window`);
      const rank = Math.ceil(q * count);
      return cumulative.find(([, n]) => n >= rank)?.[0] ?? Infinity;
    },
  };
}
