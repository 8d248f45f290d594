// Which task the code running now belongs to, so that an exception nobody
// caught can be pinned on one task: that task fails, the daemon goes on.

import { AsyncLocalStorage } from "node:async_hooks";
import type { Logger } from "../observability/logger.js";

export interface TaskScope {
  taskId: string;
  repository: string;
  job: string;
  /** Fails the task (its job is stopped and reported as failed). */
  fail(err: unknown): void;
}

const storage = new AsyncLocalStorage<TaskScope>();

export function runInTaskScope<T>(scope: TaskScope, fn: () => T): T {
  return storage.run(scope, fn);
}

export function currentTask(): TaskScope | undefined {
  return storage.getStore();
}

/**
 * process-wide handlers: an uncaught exception or unhandled rejection inside
 * a task is logged with the task and fails only that task. An uncaught
 * exception outside any task leaves the daemon in an unknown state: it is
 * logged and the process exits (the supervisor restarts it; crash recovery
 * reports what was running). Returns a function that removes the handlers.
 */
export function installCrashGuard(log: Logger, exit: (code: number) => void = (c) => process.exit(c)): () => void {
  const context = (t: TaskScope | undefined) => (t ? { taskId: t.taskId, repo: t.repository, job: t.job } : {});
  const onException = (err: Error, origin: string) => {
    const task = currentTask();
    if (task) {
      log.error({ ...context(task), origin, err: err?.stack ?? String(err) }, "uncaught exception in a task; failing that task");
      task.fail(err);
      return;
    }
    log.fatal({ origin, err: err?.stack ?? String(err) }, "uncaught exception outside any task; exiting");
    exit(70);
  };
  const onRejection = (reason: unknown) => {
    const task = currentTask();
    const err = reason instanceof Error ? (reason.stack ?? reason.message) : String(reason);
    if (task) {
      log.error({ ...context(task), err }, "unhandled promise rejection in a task; failing that task");
      task.fail(reason);
    } else {
      log.error({ err }, "unhandled promise rejection outside any task; ignored");
    }
  };
  process.on("uncaughtException", onException);
  process.on("unhandledRejection", onRejection);
  return () => {
    process.off("uncaughtException", onException);
    process.off("unhandledRejection", onRejection);
  };
}
