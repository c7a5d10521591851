// The targets the metrics-api benchmark is judged against (issue "A new user's first ten
// minutes", item 3), as pure verdicts so the table and RESULTS.md say the same thing.

export const HIT_P99_TARGET_MS = 1;
export const MISS_OVER_RAW_TARGET = 1.5;
/** Issue 17: a cache hit's p50 at most this many times the bare node:https answer's, in the same run. */
export const HIT_OVER_FLOOR_TARGET = 1.5;

export interface Verdict {
  met: boolean;
  /** One line a reader can check against the table. */
  text: string;
}

/** A cache hit answers with p99 under 1 ms. */
export function hitVerdict(hitP99Ms: number): Verdict {
  const met = hitP99Ms < HIT_P99_TARGET_MS;
  return { met, text: `hit p99 ${hitP99Ms.toFixed(3)} ms ${met ? '<' : '>='} ${HIT_P99_TARGET_MS} ms: ${met ? 'met' : 'NOT met'}` };
}

/** A miss costs at most 1.5x the raw query, compared percentile by percentile. */
export function missVerdict(percentileName: string, missMs: number, rawMs: number): Verdict {
  const ratio = missMs / rawMs;
  const met = ratio <= MISS_OVER_RAW_TARGET;
  return {
    met,
    text: `miss ${percentileName} ${missMs.toFixed(3)} ms = ${ratio.toFixed(2)}x raw ${rawMs.toFixed(3)} ms ${met ? '<=' : '>'} ${MISS_OVER_RAW_TARGET}x: ${met ? 'met' : 'NOT met'}`,
  };
}

/** A cache hit costs at most 1.5x the bare node:https answer at p50: our code adds at most half the runtime's floor. */
export function hitOverFloorVerdict(hitP50Ms: number, floorP50Ms: number): Verdict {
  const ratio = hitP50Ms / floorP50Ms;
  const met = ratio <= HIT_OVER_FLOOR_TARGET;
  return {
    met,
    text: `hit p50 ${hitP50Ms.toFixed(3)} ms = ${ratio.toFixed(2)}x bare node:https ${floorP50Ms.toFixed(3)} ms ${met ? '<=' : '>'} ${HIT_OVER_FLOOR_TARGET}x: ${met ? 'met' : 'NOT met'}`,
  };
}
