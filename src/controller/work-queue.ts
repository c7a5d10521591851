// A work queue keyed by `namespace/name`, with the guarantees of client-go's workqueue as
// controller-runtime uses it: many adds of one key collapse into one reconcile; one key is never
// reconciled by two workers at once (an add during a reconcile runs it once more afterwards);
// a failure retries the key with per-key exponential backoff; a result can ask for another look
// after a delay. Keys wait in FIFO order and retries wait on timers outside the queue, so a key
// that keeps failing never holds back the others.

export interface ReconcileResult {
  requeueAfterMs?: number;
}

export type ReconcileFn = (key: string, signal: AbortSignal) => Promise<ReconcileResult>;

export interface WorkQueueOptions {
  /** How many keys are reconciled at the same time (at least 1). */
  workers: number;
  reconcile: ReconcileFn;
  /** Told of every failed reconcile; `attempt` counts consecutive failures of that key from 1. */
  onError?: (key: string, error: unknown, attempt: number) => void;
  /** Longest wait before a retry; default 60 s. */
  maxBackoffMs?: number;
  /** Wait before the first retry, doubled per consecutive failure; default 5 ms. */
  baseBackoffMs?: number;
}

export const DEFAULT_BASE_BACKOFF_MS = 5;
export const DEFAULT_MAX_BACKOFF_MS = 60_000;

/** The wait before retrying a key that failed `failures` times in a row (failures >= 1). */
export function backoffDelayMs(failures: number, baseMs: number, maxMs: number): number {
  if (failures < 1) return 0;
  // Past 2^52 the doubling loses integer precision; the cap has long been reached by then.
  if (failures > 52) return maxMs;
  return Math.min(baseMs * 2 ** (failures - 1), maxMs);
}

interface DelayedAdd {
  dueAt: number;
  timer: NodeJS.Timeout;
}

export class WorkQueue {
  private readonly workers: number;
  private readonly reconcile: ReconcileFn;
  private readonly onError: WorkQueueOptions['onError'];
  private readonly baseBackoffMs: number;
  private readonly maxBackoffMs: number;

  /** Keys waiting for a worker. A Set keeps insertion order, so it is the FIFO and the dedup. */
  private readonly queued = new Set<string>();
  /** Keys being reconciled now, with the controller that aborts that reconcile on stop(). */
  private readonly processing = new Map<string, AbortController>();
  /** Keys added while they were being reconciled: they run once more when that reconcile ends. */
  private readonly dirty = new Set<string>();
  private readonly delayed = new Map<string, DelayedAdd>();
  private readonly failures = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
  /** The reconcile in flight per key, for cancel(). */
  private readonly running = new Map<string, Promise<void>>();
  /** Keys whose running reconcile cancel() aborted: its end is neither a failure nor a reason to retry. */
  private readonly cancelled = new Set<string>();
  private state: 'new' | 'running' | 'stopped' = 'new';

  constructor(options: WorkQueueOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1) {
      throw new RangeError(`WorkQueue: workers must be a whole number of at least 1, got ${options.workers}`);
    }
    this.workers = options.workers;
    this.reconcile = options.reconcile;
    this.onError = options.onError;
    this.baseBackoffMs = options.baseBackoffMs ?? DEFAULT_BASE_BACKOFF_MS;
    this.maxBackoffMs = options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
  }

  /** Keys waiting for a worker now (not those being reconciled nor those waiting on a delay). */
  get length(): number {
    return this.queued.size;
  }

  add(key: string): void {
    if (this.state === 'stopped') return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    this.queued.add(key);
    this.pump();
  }

  /** Adds the key after a delay; of several pending delays for one key the earliest wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.state === 'stopped') return;
    if (!(delayMs > 0)) {
      this.add(key);
      return;
    }
    const dueAt = Date.now() + delayMs;
    const pending = this.delayed.get(key);
    if (pending !== undefined) {
      if (pending.dueAt <= dueAt) return;
      clearTimeout(pending.timer);
    }
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.delayed.set(key, { dueAt, timer });
  }

  /**
   * Drops every pending add of the key and aborts its reconcile if one runs; settles once that
   * reconcile has (another replica is about to take the key over, so nothing may follow).
   */
  async cancel(key: string): Promise<void> {
    this.queued.delete(key);
    this.dirty.delete(key);
    this.failures.delete(key);
    const pending = this.delayed.get(key);
    if (pending !== undefined) clearTimeout(pending.timer);
    this.delayed.delete(key);
    const running = this.processing.get(key);
    if (running === undefined) return;
    this.cancelled.add(key);
    running.abort(new Error(`reconcile of ${key} cancelled`));
    await this.running.get(key);
  }

  /** Resets the key's backoff, so its next failure retries after the base delay again. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  start(): void {
    if (this.state === 'stopped') {
      throw new Error('WorkQueue.start: this queue was stopped; create a new WorkQueue to start again');
    }
    this.state = 'running';
    this.pump();
  }

  /** Stops taking work, drops pending and delayed keys, aborts running reconciles and waits for them. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    this.queued.clear();
    this.dirty.clear();
    for (const controller of this.processing.values()) {
      controller.abort(new Error('work queue stopped'));
    }
    await Promise.allSettled([...this.inFlight]);
  }

  private pump(): void {
    while (this.state === 'running' && this.processing.size < this.workers) {
      const next = this.queued.values().next();
      if (next.done === true) return;
      this.queued.delete(next.value);
      this.process(next.value);
    }
  }

  private process(key: string): void {
    const controller = new AbortController();
    this.processing.set(key, controller);
    const run = this.reconcileOnce(key, controller.signal).finally(() => {
      this.inFlight.delete(run);
      if (this.running.get(key) === run) this.running.delete(key);
      this.pump();
    });
    this.inFlight.add(run);
    this.running.set(key, run);
  }

  private async reconcileOnce(key: string, signal: AbortSignal): Promise<void> {
    let result: ReconcileResult | undefined;
    let failed = false;
    let error: unknown;
    try {
      result = await this.reconcile(key, signal);
    } catch (caught) {
      failed = true;
      error = caught;
    }
    this.processing.delete(key);
    // A reconcile that ends because stop() or cancel() aborted it is neither a failure nor a reason to retry.
    if (this.cancelled.delete(key) || this.state === 'stopped') return;

    if (failed) {
      const attempt = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, attempt);
      this.report(key, error, attempt);
      this.addAfter(key, backoffDelayMs(attempt, this.baseBackoffMs, this.maxBackoffMs));
    } else {
      this.failures.delete(key);
      const after = result?.requeueAfterMs;
      if (after !== undefined && after > 0) this.addAfter(key, after);
    }
    if (this.dirty.delete(key)) this.add(key);
  }

  private report(key: string, error: unknown, attempt: number): void {
    try {
      this.onError?.(key, error, attempt);
    } catch {
      // A broken error reporter must not stop the retry it reports on.
    }
  }
}
