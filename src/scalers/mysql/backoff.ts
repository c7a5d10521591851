// How long a pool waits before dialing a server again after connection attempts failed. Without it,
// 300 ScaledObjects polling a dead server every second would dial 300 times a second. Pure.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1_000, maxMs: 30_000 };

/**
 * Delay after `failures` consecutive failed attempts (1 = the first failure): initialMs doubling up
 * to maxMs, then scaled by a jitter factor in [0.5, 1) from `random` (in [0, 1)) so that pools
 * which failed together do not all redial in the same instant.
 */
export function reconnectDelayMs(failures: number, options: BackoffOptions, random: number): number {
  if (failures <= 0) return 0;
  const exponential = options.initialMs * 2 ** Math.min(failures - 1, 30);
  const capped = Math.min(exponential, options.maxMs);
  return Math.round(capped * (0.5 + random / 2));
}
