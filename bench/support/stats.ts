// Latency summaries for the benchmarks. Pure: samples in, figures out, so the arithmetic a reader
// trusts the tables by is tested on its own (bench/support/stats.test.ts).

export interface LatencySummary {
  /** Requests completed in the measured window. */
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Completed requests per second of wall-clock time in the window. */
  throughput: number;
}

/**
 * The nearest-rank percentile (the smallest sample with at least p% of samples at or below it), so
 * every figure reported is a latency that was actually observed, never an interpolation.
 */
export function percentile(sortedAscending: readonly number[], p: number): number {
  if (sortedAscending.length === 0) throw new RangeError('percentile of no samples: the measured window completed no request');
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  const rank = Math.ceil((p / 100) * sortedAscending.length);
  return sortedAscending[rank - 1] as number;
}

export function summarize(latenciesMs: readonly number[], elapsedMs: number): LatencySummary {
  if (!(elapsedMs > 0)) throw new RangeError(`elapsed time must be positive, got ${elapsedMs} ms`);
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1] as number,
    throughput: (sorted.length * 1000) / elapsedMs,
  };
}

/** Milliseconds with enough digits for sub-millisecond figures and no noise beyond them. */
export function formatMs(ms: number): string {
  if (ms < 1) return ms.toFixed(3);
  if (ms < 100) return ms.toFixed(2);
  return ms.toFixed(0);
}

/** A GitHub-flavoured Markdown table, columns padded so it also reads as plain text in a terminal. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => `| ${widths.map((w, i) => (cells[i] ?? '').padEnd(w)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
