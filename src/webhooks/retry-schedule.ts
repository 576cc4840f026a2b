/**
 * How long to wait after each failed attempt before the next one: 10 s, 30 s, 1.5 min, 4 min,
 * 10 min. Six tries in all over about 16 minutes, long enough for a receiver's restart or a
 * short outage. After the last, the delivery is failed for good.
 */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [10_000, 30_000, 90_000, 240_000, 600_000];

/** Each attempt's time limit: connecting, sending and the response's headers. */
export const DEFAULT_DELIVERY_TIMEOUT_MS = 10_000;

/**
 * When a delivery whose `attempt`-th try (1 for the first) just failed is tried again, or
 * undefined when that was the last try.
 */
export function nextTryAt(attempt: number, failedAtMs: number, delaysMs: readonly number[] = DEFAULT_RETRY_DELAYS_MS): number | undefined {
  const delay = delaysMs[attempt - 1];
  return delay === undefined ? undefined : failedAtMs + delay;
}
