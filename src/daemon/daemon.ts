// Wires connections, pollers, the supervisor and task runners together.
// One daemon serves every configured connection with one shared capacity.

import type { ConnectionConfig, RunnerConfig } from "../config/types.js";
import type { HostBackend } from "../host/sandbox.js";
import type { Logger } from "../observability/logger.js";
import { createForgejoClient, type DeclareResponse, type ForgejoClient, type Task } from "../protocol/index.js";
import type { TrustPolicy } from "../policy/trust.js";
import { Poller } from "./poller.js";
import { notify, type DaemonObserver } from "./observer.js";
import { Supervisor } from "./supervisor.js";
import { runTask, type RunJobFn, type TaskResult, type TaskRunnerContext } from "./task-runner.js";
import { Redeliverer, recoverOrphans } from "./recovery.js";
import { DeliveryLink } from "./delivery.js";
import { join } from "node:path";

export interface DaemonOptions {
  config: RunnerConfig;
  connections: ConnectionConfig[];
  host: HostBackend;
  log: Logger;
  version: string;
  runJob: RunJobFn;
  runContainerJob?: TaskRunnerContext["runContainerJob"];
  /** Label names to declare per connection (names only, no schema). */
  labelNames: (conn: ConnectionConfig) => string[];
  runnerName?: string;
  createClient?: (conn: ConnectionConfig) => ForgejoClient;
  onDeclared?: (conn: ConnectionConfig, res: DeclareResponse) => void | Promise<void>;
  prepareJobEnv?: TaskRunnerContext["prepareJobEnv"];
  hostFor?: TaskRunnerContext["hostFor"];
  containerRuntime?: TaskRunnerContext["containerRuntime"];
  onTaskDone?: (result: TaskResult) => void;
  observer?: DaemonObserver;
  /**
   * Where tasks are journaled (default `<state_dir>/spool`); false: no spool
   * (rows wait in memory, no crash recovery).
   */
  spoolRoot?: string | false;
}

export interface Daemon {
  readonly supervisor: Supervisor;
  readonly pollers: Poller[];
  /** Finished tasks whose final report still waits for the server. */
  readonly redeliverer: Redeliverer | undefined;
  /** Resolves once every poller stopped and every task finished; 0 = clean stop. */
  readonly done: Promise<number>;
  /** Graceful stop: no more fetching; running jobs get shutdown_timeout, then are cancelled. */
  shutdown(): Promise<void>;
  /** Cancel running jobs now (second signal). */
  cancelAll(): void;
}

export function startDaemon(opts: DaemonOptions): Daemon {
  const { config, log } = opts;
  const supervisor = new Supervisor({
    capacity: config.runner.capacity,
    taskTimeoutMs: config.runner.timeout,
    shutdownTimeoutMs: config.runner.shutdown_timeout,
    log,
  });
  let unregistered = 0;
  let shuttingDown = false;
  const wiring = wireConnections(opts);
  const { spoolRoot, redeliverer } = wiring;
  // Sampled backlog of every task still reporting (the spool backlog metric).
  const backlogs = new Set<() => number>();
  const trackBacklog = (fn: () => number) => {
    backlogs.add(fn);
    return () => void backlogs.delete(fn);
  };
  const backlogTimer = opts.observer?.spoolBacklog
    ? setInterval(() => {
        let bytes = 0;
        for (const fn of backlogs) {
          try {
            bytes += fn();
          } catch {
            // a task that just ended
          }
        }
        notify(opts.observer, "spoolBacklog", bytes);
      }, Math.max(1000, config.runner.report_interval))
    : undefined;
  backlogTimer?.unref();
  const pollers = opts.connections.map((conn) => {
    const { client, ctx, log: clog } = wiring.connection(conn, { trackBacklog });
    return new Poller({
      name: conn.name,
      client,
      supervisor,
      fetchIntervalMs: conn.fetch_interval || config.runner.fetch_interval,
      fetchIntervalMaxMs: config.runner.fetch_interval_max,
      fetchTimeoutMs: config.runner.fetch_timeout,
      labels: opts.labelNames(conn),
      version: opts.version,
      log: clog,
      multiTask: config.runner.protocol === "json",
      observer: opts.observer,
      onDeclared: (res) => opts.onDeclared?.(conn, res),
      onUnregistered: () => {
        unregistered++;
      },
      onTask: (task) => startTask(task, ctx),
    });
  });

  function startTask(task: Task, ctx: TaskRunnerContext): void {
    void supervisor.start(
      `task-${task.id}`,
      async (handle) => {
        const result = await runTask(task, ctx, handle);
        opts.onTaskDone?.(result);
      },
      { reserved: true },
    );
  }

  log.info(
    {
      capacity: supervisor.capacity,
      connections: opts.connections.map((c) => ({ name: c.name, url: c.url, labels: c.labels })),
      protocol: config.runner.protocol,
    },
    "daemon started",
  );
  const done = (async () => {
    // Tasks an earlier daemon process left behind are reported before any new work is fetched.
    await wiring.recover();
    if (!shuttingDown) await Promise.all(pollers.map((p) => p.run()));
    // Pollers end on shutdown or when every connection is unregistered.
    if (!shuttingDown) await supervisor.shutdown();
    else await supervisor.idle();
    // What is still undelivered stays in the spool for the next start.
    await redeliverer?.stop();
    if (backlogTimer) clearInterval(backlogTimer);
    return unregistered > 0 && unregistered === pollers.length && !shuttingDown ? 1 : 0;
  })();

  return {
    supervisor,
    pollers,
    redeliverer,
    done,
    async shutdown() {
      shuttingDown = true;
      for (const p of pollers) p.stop();
      await supervisor.shutdown();
      await done;
    },
    cancelAll() {
      supervisor.cancelAll("shutdown", "The runner is shutting down: the job was cancelled");
    },
  };
}

/** What `daemon` and `one-job` share per runner: clients, task contexts, the spool, redelivery and crash recovery. */
export interface ConnectionWiring {
  spoolRoot: string | undefined;
  redeliverer: Redeliverer | undefined;
  /** Reports tasks an earlier process left in the spool; call before fetching. */
  recover(): Promise<void>;
  connection(conn: ConnectionConfig, extra?: Partial<TaskRunnerContext>): { client: ForgejoClient; ctx: TaskRunnerContext; log: Logger };
}

export function wireConnections(opts: DaemonOptions): ConnectionWiring {
  const { config, log } = opts;
  const spoolRoot = opts.spoolRoot === false ? undefined : (opts.spoolRoot ?? join(config.state_dir, "spool"));
  const links = new Map<string, DeliveryLink>();
  const callTimeoutMs = Math.max(10_000, 5 * config.runner.report_interval);
  const redeliverer = spoolRoot
    ? new Redeliverer({ links, retry: config.runner.report_retry, log: log.child({ component: "redelivery" }), callTimeoutMs })
    : undefined;
  return {
    spoolRoot,
    redeliverer,
    async recover() {
      if (!spoolRoot) return;
      const summary = await recoverOrphans({ spoolRoot, links, retry: config.runner.report_retry, log, callTimeoutMs }).catch((err: unknown) => {
        log.error({ err: err instanceof Error ? err.message : String(err) }, "crash recovery failed");
        return undefined;
      });
      for (const key of summary?.pending ?? []) redeliverer?.add(join(spoolRoot, key));
    },
    connection(conn, extra = {}) {
      const client =
        opts.createClient?.(conn) ??
        createForgejoClient({
          baseUrl: conn.url,
          uuid: conn.uuid,
          token: conn.token,
          codec: config.runner.protocol,
          insecure: config.runner.insecure,
          maxAnswerBytes: config.runner.fetch_max_size,
        });
      // The question that involves no task (delivery.ts): Declare with what the poller declares.
      const link = new DeliveryLink(client, { name: conn.name, checkRunner: () => client.declare(opts.version, opts.labelNames(conn)) });
      links.set(conn.name, link);
      const clog = opts.connections.length > 1 ? log.child({ connection: conn.name }) : log;
      const ctx: TaskRunnerContext = {
        client,
        link,
        instanceUrl: conn.url,
        connectionName: conn.name,
        labels: conn.labels,
        ...(opts.containerRuntime ? { containerRuntime: opts.containerRuntime } : {}),
        config,
        host: opts.host,
        log: clog,
        runJob: opts.runJob,
        ...(opts.runContainerJob ? { runContainerJob: opts.runContainerJob } : {}),
        runnerName: opts.runnerName,
        prepareJobEnv: opts.prepareJobEnv,
        hostFor: opts.hostFor,
        trust: trustFor(conn, config),
        cacheReadOnly: conn.cache_mode === "read",
        observer: opts.observer,
        ...(spoolRoot ? { spoolRoot, onUndelivered: (dir: string) => redeliverer?.add(dir) } : {}),
        ...extra,
      };
      return { client, ctx, log: clog };
    },
  };
}

export function trustFor(conn: ConnectionConfig, config: RunnerConfig): TrustPolicy {
  const repos = conn.trusted_repos ?? config.runner.trusted_repos;
  const events = conn.trusted_events ?? config.runner.trusted_events;
  const own =
    JSON.stringify(repos) !== JSON.stringify(config.runner.trusted_repos) ||
    JSON.stringify(events) !== JSON.stringify(config.runner.trusted_events);
  return {
    trusted_repos: repos,
    trusted_events: events,
    source: own ? `server.connections.${conn.name}` : "runner",
  };
}
