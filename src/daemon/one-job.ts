// one-job: declare, fetch a single task (optionally waiting for one), run
// it, report it, exit. Exit code 2 when no task came.

import { Poller } from "./poller.js";
import { Supervisor } from "./supervisor.js";
import { runTask, type TaskResult } from "./task-runner.js";
import { wireConnections, type DaemonOptions } from "./daemon.js";

export const EXIT_NO_TASK = 2;

export interface OneJobOptions extends Omit<DaemonOptions, "onTaskDone"> {
  wait: boolean;
  /** Ask for this job attempt (FetchSingleTask, newer Forgejo). */
  handle?: string;
}

export interface OneJob {
  /** 0: a task ran and was reported; 1: its report failed; 2: no task. */
  readonly done: Promise<number>;
  readonly result: Promise<TaskResult | undefined>;
  /** Stop waiting; a running job gets shutdown_timeout, then is cancelled. */
  shutdown(): Promise<void>;
  cancelAll(): void;
}

export function startOneJob(opts: OneJobOptions): OneJob {
  const conn = opts.connections[0];
  if (!conn) throw new Error("one-job: no connection configured");
  const { config, log } = opts;
  const supervisor = new Supervisor({
    capacity: 1,
    taskTimeoutMs: config.runner.timeout,
    shutdownTimeoutMs: config.runner.shutdown_timeout,
    log,
  });
  // The daemon's wiring: the same client, task context, spool, crash recovery and redelivery.
  const wiring = wireConnections({ ...opts, connections: [conn] });
  const { client, ctx } = wiring.connection(conn);
  let running: Promise<TaskResult> | undefined;
  const poller = new Poller({
    name: conn.name,
    client,
    supervisor,
    fetchIntervalMs: conn.fetch_interval || config.runner.fetch_interval,
    fetchTimeoutMs: config.runner.fetch_timeout,
    labels: opts.labelNames(conn),
    version: opts.version,
    log,
    observer: opts.observer,
    onDeclared: (res) => opts.onDeclared?.(conn, res),
    onTask: (task) => {
      if (running) {
        // Never leave an assigned task unreported, even if the server sent more than one.
        void supervisor.start(`task-${task.id}`, async (h) => void (await runTask(task, ctx, h)), { reserved: true });
        return;
      }
      running = new Promise((resolve, reject) => {
        void supervisor.start(`task-${task.id}`, async (h) => {
          try {
            resolve(await runTask(task, ctx, h));
          } catch (err) {
            reject(err);
          }
        }, { reserved: true });
      });
    },
  });
  const result = (async () => {
    try {
      // Tasks an earlier process left in the spool are reported first, as the daemon does.
      await wiring.recover();
      const tasks = await poller.fetchUntilTask({ wait: opts.wait, handle: opts.handle });
      if (tasks.length === 0) return undefined;
      const r = await running;
      await supervisor.idle();
      return r;
    } finally {
      // What could not be delivered stays in the spool for the next start.
      await wiring.redeliverer?.stop();
    }
  })();
  const done = result.then((r) => (r === undefined ? EXIT_NO_TASK : r.reported ? 0 : 1));
  return {
    done,
    result,
    async shutdown() {
      poller.stop();
      await supervisor.shutdown();
      await done.catch(() => undefined);
    },
    cancelAll() {
      supervisor.cancelAll("shutdown", "The runner is shutting down: the job was cancelled");
    },
  };
}
