// Runs each key's poll at a fixed rate. One timer per key, armed for the next ideal time on a grid
// (first tick + k * interval), so the rate does not drift the way chained setTimeout or setInterval
// do. The first tick lands at a random point within the first interval, so ScaledObjects created
// together (a controller restart, an `kubectl apply -f dir/`) do not all query their databases in
// the same millisecond.
//
// A key never has two polls running. A tick that finds the previous poll still running is skipped,
// not queued: a poll slower than its interval means the data source is struggling, and running
// polls back to back would add load exactly when it hurts.

export type PollFn = (signal: AbortSignal) => Promise<void>;

export interface PollSchedulerOptions {
  /** Each poll's signal aborts (a TimeoutError) after this long; default 10 s. */
  pollTimeoutMs?: number;
  /** How late each poll started against its ideal time, in ms (>= 0). */
  onLag?: (key: string, lagMs: number) => void;
  /** Ticks dropped because the key's previous poll was still running or the event loop stalled. */
  onSkip?: (key: string, skippedTicks: number) => void;
  /** A poll rejected; polls are expected to handle their own errors, so this is a last resort. */
  onError?: (key: string, error: unknown) => void;
  /** Source of the first-tick jitter, in [0, 1); default Math.random. */
  random?: () => number;
}

export const DEFAULT_POLL_TIMEOUT_MS = 10_000;

interface Schedule {
  key: string;
  intervalMs: number;
  poll: PollFn;
  /** False once unscheduled; the entry lingers only until its in-flight poll settles. */
  active: boolean;
  /** Bumped when an unscheduled key is scheduled again, so the aborted poll reports nothing. */
  generation: number;
  /** Ideal start of the next poll, on the performance.now() clock. */
  nextAt: number;
  timer?: NodeJS.Timeout;
  /** A one-off poll asked for by pollAt, between two ticks. */
  extraTimer?: NodeJS.Timeout;
  inFlight?: { controller: AbortController; settled: Promise<void> };
}

export class PollScheduler {
  private readonly pollTimeoutMs: number;
  private readonly onLag: PollSchedulerOptions['onLag'];
  private readonly onSkip: PollSchedulerOptions['onSkip'];
  private readonly onError: PollSchedulerOptions['onError'];
  private readonly random: () => number;
  private readonly schedules = new Map<string, Schedule>();
  private stopped = false;

  constructor(options: PollSchedulerOptions = {}) {
    this.pollTimeoutMs = options.pollTimeoutMs ?? DEFAULT_POLL_TIMEOUT_MS;
    this.onLag = options.onLag;
    this.onSkip = options.onSkip;
    this.onError = options.onError;
    this.random = options.random ?? Math.random;
  }

  /**
   * Polls `key` every `intervalMs`. Scheduling a key again is cheap and safe to do on every
   * reconcile: the new function is used from the next tick on, a poll already running is left to
   * finish (never aborted, never doubled), and the phase is kept unless the interval changed.
   */
  schedule(key: string, intervalMs: number, poll: PollFn): void {
    if (this.stopped) throw new Error(`PollScheduler.schedule(${key}): the scheduler was stopped`);
    if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
      throw new RangeError(`PollScheduler.schedule(${key}): intervalMs must be a positive number, got ${intervalMs}`);
    }
    let entry = this.schedules.get(key);
    if (entry?.active === true) {
      entry.poll = poll;
      if (entry.intervalMs === intervalMs) return;
      clearTimeout(entry.timer);
      entry.intervalMs = intervalMs;
    } else if (entry === undefined) {
      entry = { key, intervalMs, poll, active: true, generation: 0, nextAt: 0 };
      this.schedules.set(key, entry);
    } else {
      // Unscheduled but its aborted poll is still settling: the new schedule waits for it (ticks skip).
      Object.assign(entry, { intervalMs, poll, active: true, generation: entry.generation + 1 });
    }
    const jitter = Math.min(Math.max(this.random(), 0), 1) * intervalMs;
    entry.nextAt = performance.now() + jitter;
    this.arm(entry);
  }

  /**
   * One extra poll of `key` in `delayMs`, for a decision that falls due between two ticks (the end
   * of a cooldown), so it is acted on then rather than up to an interval later. Not armed when the
   * next regular tick comes first (that tick decides, and may ask again); skipped when a poll is
   * running at that moment. A later call replaces an earlier one.
   */
  pollAt(key: string, delayMs: number): void {
    const entry = this.schedules.get(key);
    if (entry?.active !== true) return;
    clearTimeout(entry.extraTimer);
    entry.extraTimer = undefined;
    if (performance.now() + delayMs >= entry.nextAt) return;
    entry.extraTimer = setTimeout(() => {
      entry.extraTimer = undefined;
      if (entry.active && entry.inFlight === undefined) this.run(entry);
    }, Math.max(0, delayMs));
  }

  /**
   * Stops polling `key` and aborts a poll in flight. The promise settles once that poll has: a
   * caller about to write /scale itself (pause, restore on delete) awaits it, so a poll that was
   * already past its abort checks cannot write after it.
   */
  unschedule(key: string): Promise<void> {
    const entry = this.schedules.get(key);
    if (entry === undefined) return Promise.resolve();
    if (entry.active) {
      entry.active = false;
      clearTimeout(entry.timer);
      clearTimeout(entry.extraTimer);
      entry.timer = undefined;
      if (entry.inFlight === undefined) this.schedules.delete(key);
      else entry.inFlight.controller.abort(abortError(`poll of ${key} was unscheduled`));
    }
    return entry.inFlight?.settled ?? Promise.resolve();
  }

  has(key: string): boolean {
    return this.schedules.get(key)?.active === true;
  }

  /** Number of keys being polled. */
  get size(): number {
    let n = 0;
    for (const entry of this.schedules.values()) if (entry.active) n += 1;
    return n;
  }

  /** Clears every timer, aborts every in-flight poll and waits for them to settle. */
  async stop(): Promise<void> {
    this.stopped = true;
    const settling: Promise<void>[] = [];
    for (const entry of this.schedules.values()) {
      entry.active = false;
      clearTimeout(entry.timer);
      clearTimeout(entry.extraTimer);
      entry.timer = undefined;
      if (entry.inFlight !== undefined) {
        entry.inFlight.controller.abort(abortError('poll scheduler stopped'));
        settling.push(entry.inFlight.settled);
      }
    }
    await Promise.allSettled(settling);
    this.schedules.clear();
  }

  private arm(entry: Schedule): void {
    const delay = Math.max(0, entry.nextAt - performance.now());
    entry.timer = setTimeout(() => this.tick(entry), delay);
  }

  private tick(entry: Schedule): void {
    entry.timer = undefined;
    if (!entry.active) return;
    const now = performance.now();
    const idealAt = entry.nextAt;
    // The next grid point strictly after now; ticks that a stalled event loop missed are dropped.
    const ticksPassed = Math.floor((now - idealAt) / entry.intervalMs) + 1;
    entry.nextAt = idealAt + Math.max(ticksPassed, 1) * entry.intervalMs;
    this.arm(entry);

    const missed = Math.max(ticksPassed - 1, 0);
    if (entry.inFlight !== undefined) {
      this.onSkip?.(entry.key, missed + 1);
      return;
    }
    if (missed > 0) this.onSkip?.(entry.key, missed);
    this.onLag?.(entry.key, Math.max(0, now - idealAt));
    this.run(entry);
  }

  private run(entry: Schedule): void {
    const controller = new AbortController();
    const timeout = setTimeout(() => {
      controller.abort(timeoutError(`poll of ${entry.key} timed out after ${this.pollTimeoutMs} ms`));
    }, this.pollTimeoutMs);
    const { poll, generation } = entry;
    const settled = (async () => {
      try {
        await poll(controller.signal);
      } catch (error) {
        // A poll that was unscheduled or stopped reports nothing: nobody waits for it.
        if (entry.active && entry.generation === generation && !this.stopped) this.onError?.(entry.key, error);
      } finally {
        clearTimeout(timeout);
        entry.inFlight = undefined;
        if (!entry.active && this.schedules.get(entry.key) === entry) this.schedules.delete(entry.key);
      }
    })();
    entry.inFlight = { controller, settled };
  }
}

function abortError(message: string): DOMException {
  return new DOMException(message, 'AbortError');
}

function timeoutError(message: string): DOMException {
  return new DOMException(message, 'TimeoutError');
}
