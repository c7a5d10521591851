// A bounded pool of connections to one server as one user. It never holds more than maxConnections
// (open or being opened); a caller that finds them all busy queues, and gives up with PoolExhausted
// after acquireTimeoutMs. After a failed dial the pool backs off (capped exponential with jitter)
// and every acquire inside that window fails fast with the last error instead of dialing again.
// Idle connections are closed after idleTimeoutMs. Nothing is dialed before the first acquire.
//
// Tenants share a pool, so a slow query must not starve a quick one: callers that say their query
// is slow may hold at most maxConnections - 1 connections between them, which keeps one connection
// for quick queries (a pool of one has nothing to keep). A quick query then waits at most for
// other quick statements, never behind a wall of slow ones; slow queries queue among themselves.

import { ScalerError } from '../scaler.js';
import { reconnectDelayMs, type BackoffOptions } from './backoff.js';
import { formatSeconds } from './mysql-errors.js';

export interface ConnectionPoolOptions {
  maxConnections: number;
  acquireTimeoutMs: number;
  idleTimeoutMs: number;
  backoff: BackoffOptions;
}

export interface SessionFactory<S> {
  /** Dials and sets up a session; rejects with a ScalerError that says what to fix. */
  open(): Promise<S>;
  /** Ends a session; never rejects. */
  close(session: S): Promise<void>;
  /** False when the session died while idle (the server went away). */
  usable(session: S): boolean;
}

interface Waiter<S> {
  slow: boolean;
  /** False when the waiter already gave up (timeout, abort); the caller keeps the session. */
  resolve(session: S): boolean;
  reject(error: ScalerError): void;
}

interface IdleSession<S> {
  session: S;
  timer: NodeJS.Timeout;
}

export interface PoolStats {
  /** Open or being opened. */
  open: number;
  idle: number;
  waiting: number;
  /** Held by (or being dialed for) callers whose query is slow. */
  slowInUse: number;
  consecutiveDialFailures: number;
}

export class ConnectionPool<S> {
  readonly #label: string;
  readonly #factory: SessionFactory<S>;
  readonly #options: ConnectionPoolOptions;
  #open = 0;
  readonly #idle: IdleSession<S>[] = [];
  readonly #waiters: Waiter<S>[] = [];
  #dialFailures = 0;
  #retryAt = 0;
  #failedAt = 0;
  #lastDialError: ScalerError | undefined;
  #closed = false;
  #slowInUse = 0;
  readonly #heldBySlow = new Set<S>();
  readonly #closeWaiters: Array<() => void> = [];
  readonly #closing = new Set<Promise<void>>();

  constructor(label: string, factory: SessionFactory<S>, options: ConnectionPoolOptions) {
    this.#label = label;
    this.#factory = factory;
    this.#options = options;
  }

  get stats(): PoolStats {
    return { open: this.#open, idle: this.#idle.length, waiting: this.#waiters.length, slowInUse: this.#slowInUse,
      consecutiveDialFailures: this.#dialFailures };
  }

  /**
   * A session, idle or newly dialed, or queued for one. `redialAfterMs` caps the wait after failed
   * dials for this caller: one that polls every second learns the server is back within about a
   * second, while the pool still dials at most once per such wait, however many callers share it.
   */
  async acquire(signal?: AbortSignal, redialAfterMs = Infinity, slow = false): Promise<S> {
    if (this.#closed) throw new ScalerError('Aborted', `the MySQL pool for ${this.#label} is closed`);
    if (signal?.aborted === true) throw aborted(this.#label);
    if (!this.#mayTake(slow)) return this.#enqueue(signal, slow);
    const idle = this.#takeIdle();
    if (idle !== undefined) return this.#handOut(idle, slow);
    if (this.#open >= this.#options.maxConnections) return this.#enqueue(signal, slow);
    if (slow) this.#slowInUse += 1;
    try {
      return this.#holdFor(await this.#dial(redialAfterMs), slow);
    } catch (err) {
      if (slow) this.#slowInUse -= 1;
      throw err;
    }
  }

  /** Hands a session back. `reusable: false` closes it (it failed or may carry changed state). */
  release(session: S, reusable: boolean): void {
    if (this.#heldBySlow.delete(session)) this.#slowInUse -= 1;
    if (this.#closed || !reusable || !this.#factory.usable(session)) {
      this.#discard(session);
      this.#pump();
      return;
    }
    for (let waiter = this.#nextWaiter(); waiter !== undefined; waiter = this.#nextWaiter()) {
      if (waiter.resolve(this.#handOut(session, waiter.slow))) return;
      this.#giveBack(session, waiter.slow);
    }
    const timer = setTimeout(() => {
      const index = this.#idle.findIndex((entry) => entry.session === session);
      if (index < 0) return;
      this.#idle.splice(index, 1);
      this.#discard(session);
    }, this.#options.idleTimeoutMs);
    timer.unref();
    this.#idle.push({ session, timer });
  }

  /** Rejects the queue, closes idle sessions, and resolves once every session in use is back and closed. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const waiter of this.#waiters.splice(0)) waiter.reject(new ScalerError('Aborted', `the MySQL pool for ${this.#label} was closed`));
      for (const { session, timer } of this.#idle.splice(0)) {
        clearTimeout(timer);
        this.#discard(session);
      }
    }
    if (this.#open > 0) await new Promise<void>((resolve) => this.#closeWaiters.push(resolve));
    await Promise.all(this.#closing);
  }

  /** A slow caller may take a connection only while another one stays free for quick queries. */
  #mayTake(slow: boolean): boolean {
    return !slow || this.#options.maxConnections === 1 || this.#slowInUse < this.#options.maxConnections - 1;
  }

  /** The first waiter in line that may take a connection now, removed from the queue. */
  #nextWaiter(): Waiter<S> | undefined {
    const index = this.#waiters.findIndex((waiter) => this.#mayTake(waiter.slow));
    return index < 0 ? undefined : this.#waiters.splice(index, 1)[0];
  }

  #handOut(session: S, slow: boolean): S {
    if (slow) this.#slowInUse += 1;
    return this.#holdFor(session, slow);
  }

  /** Records a session that a slow caller holds; its slot was counted when the caller was admitted. */
  #holdFor(session: S, slow: boolean): S {
    if (slow) this.#heldBySlow.add(session);
    return session;
  }

  /** Undoes #handOut for a waiter that gave up in the meantime. */
  #giveBack(session: S, slow: boolean): void {
    if (slow && this.#heldBySlow.delete(session)) this.#slowInUse -= 1;
  }

  #takeIdle(): S | undefined {
    for (let entry = this.#idle.pop(); entry !== undefined; entry = this.#idle.pop()) {
      clearTimeout(entry.timer);
      if (this.#factory.usable(entry.session)) return entry.session;
      this.#discard(entry.session);
    }
    return undefined;
  }

  async #dial(redialAfterMs = Infinity): Promise<S> {
    const retryAt = Math.min(this.#retryAt, this.#failedAt + redialAfterMs);
    if (Date.now() < retryAt && this.#lastDialError !== undefined) throw this.#lastDialError;
    this.#open += 1;
    let session: S;
    try {
      session = await this.#factory.open();
    } catch (err) {
      this.#open -= 1;
      const error = err instanceof ScalerError ? err : new ScalerError('ConnectionFailed', `cannot connect to MySQL at ${this.#label}`, { cause: err });
      this.#dialFailures += 1;
      this.#lastDialError = error;
      this.#failedAt = Date.now();
      this.#retryAt = Date.now() + reconnectDelayMs(this.#dialFailures, this.#options.backoff, Math.random());
      this.#settleClose();
      this.#pump();
      throw error;
    }
    this.#dialFailures = 0;
    this.#lastDialError = undefined;
    this.#retryAt = 0;
    if (this.#closed) {
      this.#discard(session);
      throw new ScalerError('Aborted', `the MySQL pool for ${this.#label} was closed while connecting`);
    }
    return session;
  }

  #enqueue(signal: AbortSignal | undefined, slow: boolean): Promise<S> {
    return new Promise<S>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        remove();
        const busy = slow
          ? `pool of ${this.#options.maxConnections}, of which slow queries such as this one ` +
            `share ${this.#options.maxConnections - 1}, all busy with other slow queries`
          : `pool of ${this.#options.maxConnections}, all busy with other queries`;
        reject(new ScalerError('PoolExhausted', `no MySQL connection to ${this.#label} became free within ` +
          `${formatSeconds(this.#options.acquireTimeoutMs)} (${busy}): ` +
          "make the queries faster, poll less often, or raise queryscaler's MySQL pool size"));
      }, this.#options.acquireTimeoutMs);
      const onAbort = () => {
        remove();
        reject(aborted(this.#label));
      };
      const remove = () => {
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
      };
      const waiter: Waiter<S> = {
        slow,
        resolve: (session) => {
          if (settled) return false;
          remove();
          resolve(session);
          return true;
        },
        reject: (error) => {
          if (settled) return;
          remove();
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** A slot came free: dial on behalf of the first waiter that may take it. */
  #pump(): void {
    while (!this.#closed && this.#open < this.#options.maxConnections) {
      const waiter = this.#nextWaiter();
      if (waiter === undefined) return;
      if (waiter.slow) this.#slowInUse += 1;
      // The waiter may time out while we dial for it; then the new session goes to the next one.
      this.#dial().then((session) => {
        this.#holdFor(session, waiter.slow);
        if (!waiter.resolve(session)) this.release(session, true);
      }, (error: ScalerError) => {
        if (waiter.slow) this.#slowInUse -= 1;
        waiter.reject(error);
      });
    }
  }

  #discard(session: S): void {
    this.#open -= 1;
    const closing = this.#factory.close(session).finally(() => this.#closing.delete(closing));
    this.#closing.add(closing);
    this.#settleClose();
  }

  #settleClose(): void {
    if (this.#closed && this.#open === 0) for (const resolve of this.#closeWaiters.splice(0)) resolve();
  }
}

function aborted(label: string): ScalerError {
  return new ScalerError('Aborted', `the read from MySQL at ${label} was cancelled`);
}
