// When the poller asks for the next task. Pure (times are passed in) so that the policy is tested with a
// fake clock.
//
// - For HOT_WINDOW_MS after activity (a task received or ended) the poller asks at the hot interval (half of
//   fetch_interval, at least 1 s unless fetch_interval is shorter): jobs tend to come in bursts (pushes,
//   matrices, needs chains), and a burst's jobs are picked up within about a second.
// - Otherwise at fetch_interval (default 2 s: 30 requests a minute, forgejo-runner's idle rate).
// - Only with fetch_interval_max above fetch_interval, and only once the hot window has passed, each empty
//   answer doubles the wait up to that ceiling: fewer requests for large fleets, at the cost of pickup latency
//   (after a long idle time, about half the ceiling on average).

export const HOT_WINDOW_MS = 120_000;
const HOT_FLOOR_MS = 1000;

export interface PacerOptions {
  intervalMs: number;
  /** Backoff ceiling; equal to intervalMs means no backoff. */
  maxIntervalMs: number;
  /** No faster polling after activity (Codeberg asks for at least 30 s between calls). */
  noHotPolling?: boolean;
}

export class FetchPacer {
  readonly intervalMs: number;
  readonly maxIntervalMs: number;
  readonly hotIntervalMs: number;
  private lastActivityAt = Number.NEGATIVE_INFINITY;
  private backoffMs: number;

  constructor(o: PacerOptions) {
    this.intervalMs = o.intervalMs;
    this.maxIntervalMs = Math.max(o.intervalMs, o.maxIntervalMs);
    this.hotIntervalMs = o.noHotPolling ? o.intervalMs : Math.max(Math.min(o.intervalMs, HOT_FLOOR_MS), o.intervalMs / 2);
    this.backoffMs = o.intervalMs;
  }

  private hot(now: number): boolean {
    return now - this.lastActivityAt < HOT_WINDOW_MS;
  }

  /** A task arrived or ended. */
  activity(now: number): void {
    this.lastActivityAt = now;
    this.backoffMs = this.intervalMs;
  }

  /** A fetch came back without a task. */
  empty(now: number): void {
    if (!this.hot(now)) this.backoffMs = Math.min(this.backoffMs * 2, this.maxIntervalMs);
  }

  /** The wait between the last fetch and the next one. */
  wait(now: number): number {
    return this.hot(now) ? this.hotIntervalMs : this.backoffMs;
  }
}
