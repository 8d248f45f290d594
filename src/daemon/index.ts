// Front door of the daemon: what the CLI verbs use.
export { startDaemon, type Daemon, type DaemonOptions } from "./daemon.js";
export { startOneJob, EXIT_NO_TASK, type OneJob, type OneJobOptions } from "./one-job.js";
export { runTask, buildJobRequest, countSteps, type RunJobFn, type TaskResult, type TaskRunnerContext } from "./task-runner.js";
export { TaskReporter, type ReporterOptions, type FinalReport } from "./reporter.js";
export { Poller, effectiveFetchInterval, type PollerOptions } from "./poller.js";
export { HOT_WINDOW_MS } from "./fetch-pacer.js";
export { Supervisor, TaskAbort, TIMEOUT_MESSAGE, type TaskHandle, type AbortKind } from "./supervisor.js";
export { sanitizeRows, MAX_ROW_BYTES } from "./log-rows.js";
export type { DaemonObserver, TaskInfo } from "./observer.js";
export { TaskSpool, findOrphans, type SpoolMeta, type SpooledTaskState } from "./spool.js";
export { recoverOrphans, deliverFinishedSpool, closeInterruptedSpool, Redeliverer, RESTART_LINE, type RecoverySummary } from "./recovery.js";
export { JOB_MARKER_ENV, jobMarker, killJobLeftovers, markJobProcesses } from "./job-marker.js";
export { createDaemonObservability } from "./daemon-observer.js";
export { installCrashGuard } from "./task-scope.js";
