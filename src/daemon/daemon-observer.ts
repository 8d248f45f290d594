// Connects the daemon's hooks to the status file (`native-runner status`),
// Prometheus metrics with /healthz (metrics.enabled), and systemd
// notifications (READY, STOPPING, WATCHDOG).

import { join } from "node:path";
import type { RunnerConfig } from "../config/types.js";
import type { Logger } from "../observability/logger.js";
import type { RunnerMetrics } from "../observability/metrics.js";
import { startObservabilityServer, type ObservabilityServer } from "../observability/http-server.js";
import { SdNotifier } from "../observability/sd-notify.js";
import { StatusTracker } from "../observability/status.js";
import type { DaemonObserver } from "./observer.js";

const STATUS_WRITE_INTERVAL_MS = 5000;

export interface DaemonObservability {
  observer: DaemonObserver;
  /** Only with metrics.enabled: prom-client is not even loaded otherwise. */
  readonly metrics: RunnerMetrics | undefined;
  /** Starts the metrics server and tells systemd the daemon is ready. */
  start(): Promise<void>;
  stopping(): void;
  close(): Promise<void>;
}

export async function createDaemonObservability(cfg: RunnerConfig, version: string, log: Logger): Promise<DaemonObservability> {
  const status = new StatusTracker(join(cfg.state_dir, "status.json"), cfg.runner.capacity, version);
  const metrics = cfg.metrics.enabled ? new (await import("../observability/metrics.js")).RunnerMetrics() : undefined;
  metrics?.capacity.set(cfg.runner.capacity);
  const notifier = new SdNotifier();
  let server: ObservabilityServer | undefined;
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> | undefined;
  const failing = new Map<string, string>();

  const write = () => {
    writing ??= status
      .write()
      .catch((err: Error) => log.debug({ err: err.message }, "could not write the status file"))
      .finally(() => (writing = undefined));
  };
  const updateHealth = () => {
    const reasons = [...failing.entries()].map(([c, m]) => `${c}: ${m}`);
    status.setHealth(reasons.length === 0, reasons.length ? reasons.join("; ") : undefined);
  };

  const observer: DaemonObserver = {
    taskStarted(t) {
      status.jobStarted(t);
      metrics?.running.inc();
      void notifier.status(`running ${status.snapshot().running.length} job(s)`);
      write();
    },
    taskFinished(t) {
      status.jobFinished(t.taskId);
      metrics?.running.dec();
      metrics?.jobs.inc({ result: t.result, label: t.runsOn || "unknown" });
      metrics?.jobDuration.observe(t.durationMs / 1000);
      if (!t.reported) status.error(`task ${t.taskId}: the final report did not reach ${t.connection}`);
      write();
    },
    firstStepStarted(_t, ms) {
      metrics?.pickupLatency.observe(ms / 1000);
    },
    stepFinished(_t, ms) {
      metrics?.stepDuration.observe(ms / 1000);
    },
    contact(name, url) {
      status.contact(name, url);
      if (failing.delete(name)) updateHealth();
    },
    fetchError(name, url, code, message) {
      status.connectionError(name, url, `${code}: ${message}`);
      metrics?.fetchErrors.inc({ code });
      failing.set(name, `${code}: ${message}`);
      updateHealth();
    },
    reportError(rpc, code) {
      metrics?.reportErrors.inc({ rpc, code });
    },
    spoolBacklog(bytes) {
      metrics?.spoolBacklog.set(bytes);
    },
    nixUsage(roots, bytes) {
      metrics?.gcRoots.set(roots);
      metrics?.gcRootBytes.set(bytes);
    },
    cacheActivity(a) {
      if (a.kind === "lookup") metrics?.cacheRequests.inc({ result: a.hit ? "hit" : "miss" });
      else metrics?.cacheBytes.inc({ direction: a.kind }, a.bytes);
    },
  };

  return {
    observer,
    metrics,
    async start() {
      if (metrics) {
        try {
          server = await startObservabilityServer(cfg.metrics.addr, metrics, () => status.healthy);
          log.info({ url: server.url }, "metrics and /healthz listening");
        } catch (err) {
          log.warn({ err: (err as Error).message, addr: cfg.metrics.addr }, "could not start the metrics server");
        }
      }
      write();
      timer = setInterval(write, STATUS_WRITE_INTERVAL_MS);
      timer.unref();
      await notifier.ready(`capacity ${cfg.runner.capacity}`);
      // Liveness only: the timer firing shows the event loop runs. A Forgejo outage must not
      // make systemd kill the runner (and its running jobs) when WatchdogSec runs out.
      notifier.startWatchdog(() => true);
    },
    stopping() {
      void notifier.stopping("stopping: waiting for running jobs");
    },
    async close() {
      if (timer) clearInterval(timer);
      notifier.stopWatchdog();
      write();
      await writing;
      await server?.close();
    },
  };
}
