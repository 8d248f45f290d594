import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The runner's Prometheus metrics, in one registry per daemon. */
export class RunnerMetrics {
  readonly registry = new Registry();

  readonly jobs = new Counter({
    name: "native_runner_jobs_total", help: "Jobs finished, by result and runner label",
    labelNames: ["result", "label"] as const, registers: [this.registry],
  });
  readonly jobDuration = new Histogram({
    name: "native_runner_job_duration_seconds", help: "Job duration",
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 10800], registers: [this.registry],
  });
  readonly stepDuration = new Histogram({
    name: "native_runner_step_duration_seconds", help: "Step duration",
    buckets: [0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 1800], registers: [this.registry],
  });
  readonly running = new Gauge({ name: "native_runner_running_jobs", help: "Jobs running now", registers: [this.registry] });
  readonly capacity = new Gauge({ name: "native_runner_capacity", help: "Configured capacity", registers: [this.registry] });
  readonly pickupLatency = new Histogram({
    name: "native_runner_pickup_latency_seconds", help: "Time from a task's fetch to its first step starting",
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10], registers: [this.registry],
  });
  readonly fetchErrors = new Counter({
    name: "native_runner_fetch_errors_total", help: "FetchTask errors by Connect code",
    labelNames: ["code"] as const, registers: [this.registry],
  });
  readonly reportErrors = new Counter({
    name: "native_runner_report_errors_total", help: "UpdateLog/UpdateTask errors by Connect code",
    labelNames: ["rpc", "code"] as const, registers: [this.registry],
  });
  readonly spoolBacklog = new Gauge({
    name: "native_runner_log_spool_backlog_bytes", help: "Log bytes spooled but not yet acknowledged by Forgejo",
    registers: [this.registry],
  });
  readonly cacheRequests = new Counter({
    name: "native_runner_cache_requests_total", help: "Actions cache lookups by result",
    labelNames: ["result"] as const, registers: [this.registry],
  });
  readonly cacheBytes = new Counter({
    name: "native_runner_cache_bytes_total", help: "Actions cache bytes by direction",
    labelNames: ["direction"] as const, registers: [this.registry],
  });
  readonly gcRoots = new Gauge({ name: "native_runner_nix_gcroots", help: "Nix store paths kept alive by the runner", registers: [this.registry] });
  readonly gcRootBytes = new Gauge({
    name: "native_runner_nix_gcroots_bytes", help: "Bytes of closures kept alive by the runner's GC roots",
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: "native_runner_" });
  }
}
