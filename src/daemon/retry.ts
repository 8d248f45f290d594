// Exponential backoff for the final uploads (runner.report_retry).

import type { ReportRetryConfig } from "../config/types.js";

export interface RetryOptions extends ReportRetryConfig {
  /** Stop retrying (and rethrow) on these errors. */
  isFatal?: (err: unknown) => boolean;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Checked after a failure: true when the attempt still moved things forward; the count starts over. */
  progressed?: () => boolean;
  signal?: AbortSignal;
}

/**
 * Runs `fn` until it succeeds, at most `max_retries` attempts (at least one).
 * The delay starts at `initial_delay` and doubles, capped by `max_delay`
 * unless that is 0.
 */
export async function retryWithBackoff<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const attempts = Math.max(1, opts.max_retries);
  let delay = Math.max(1, opts.initial_delay);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (opts.progressed?.()) {
        attempt = 0;
        delay = Math.max(1, opts.initial_delay);
      }
      if (attempt >= attempts || opts.isFatal?.(err) || opts.signal?.aborted) throw err;
      const wait = opts.max_delay > 0 ? Math.min(delay, opts.max_delay) : delay;
      opts.onRetry?.(err, attempt, wait);
      await sleep(wait, opts.signal);
      delay *= 2;
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
