// The arithmetic of the reaction benchmark: when the HPA will next ask for the metric (from the
// arrival times of its earlier requests, as queryscaler logs them), where to place a commit before
// it, how a sample compares with the ideal, and the metric request arrivals in a log line. Pure.

/** The HPA controller re-queues an HPA one sync period after it finished the last sync; a gap far off that is a missed or extra sync. */
const PERIOD_TOLERANCE = 0.3;

/** The median gap between consecutive arrivals near `nominalMs`, or `nominalMs` when there are none yet. */
export function syncPeriodMs(arrivals: readonly number[], nominalMs: number): number {
  const gaps = arrivals
    .slice(1)
    .map((at, i) => at - (arrivals[i] as number))
    .filter((gap) => Math.abs(gap - nominalMs) <= nominalMs * PERIOD_TOLERANCE)
    .sort((a, b) => a - b);
  return gaps.length === 0 ? nominalMs : (gaps[Math.floor((gaps.length - 1) / 2)] as number);
}

/** The first predicted arrival (last + k periods) at least `offsetMs + leadMs` after `now`. */
export function nextSyncAt(lastArrival: number, periodMs: number, now: number, offsetMs: number, leadMs: number): number {
  const periods = Math.max(1, Math.ceil((now + offsetMs + leadMs - lastArrival) / periodMs));
  return lastArrival + periods * periodMs;
}

export function firstAfter(arrivals: readonly number[], at: number): number | undefined {
  return arrivals.find((arrival) => arrival > at);
}

export interface ReactionSample {
  /** How long before the predicted sync the commit was meant to land, ms. */
  plannedOffsetMs: number;
  /** From the commit to the HPA's next metric request: what an autoscaler that always answers fresh achieves. */
  idealMs: number;
  /** From the commit to the target's spec.replicas changing. */
  reactionMs: number;
}

export interface SampleVerdict {
  behindMs: number;
  /** A commit this close before the HPA's request may be missed by design (the freshness bound); such samples are shown, not judged. */
  judged: boolean;
  met: boolean;
}

export function sampleVerdict(sample: ReactionSample, freshnessMs: number, targetBehindMs: number): SampleVerdict {
  const behindMs = sample.reactionMs - sample.idealMs;
  const judged = sample.idealMs > freshnessMs;
  return { behindMs, judged, met: behindMs <= targetBehindMs };
}

/**
 * The arrival time (epoch ms) of a metric request in namespace `namespace`, from one line of
 * queryscaler's debug log (`{"msg":"request","path":...,"time":...,"durationMs":...}`), or undefined
 * for any other line. The line is written when the answer is sent, so arrival = time - durationMs.
 */
export function metricRequestArrival(line: string, namespace: string, metricName: string): number | undefined {
  if (!line.includes('"msg":"request"')) return undefined;
  let entry: { msg?: unknown; path?: unknown; time?: unknown; durationMs?: unknown };
  try {
    entry = JSON.parse(line) as typeof entry;
  } catch {
    return undefined;
  }
  if (entry.msg !== 'request' || entry.path !== `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/${metricName}`) return undefined;
  const time = typeof entry.time === 'string' ? Date.parse(entry.time) : typeof entry.time === 'number' ? entry.time : Number.NaN;
  if (!Number.isFinite(time) || typeof entry.durationMs !== 'number') return undefined;
  return time - entry.durationMs;
}
