// Waiting in benchmarks: for a condition, bounded in time and stopped by Ctrl-C, or for a while.
import { errorText } from './harness.js';

/** Polls `probe` every 500 ms until it says true; gives up after `timeoutMs` saying what it waited for and what it last saw. */
export async function until(
  probe: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  signal: AbortSignal,
  detail: () => string = () => '',
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = '';
  while (performance.now() < deadline) {
    signal.throwIfAborted();
    try {
      if (await probe()) return;
      last = 'not yet';
    } catch (error) {
      last = errorText(error);
    }
    await sleep(500, signal);
  }
  throw new Error(`gave up after ${timeoutMs / 1000} s waiting for ${what} (last: ${last}) ${detail()}`.trim());
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
