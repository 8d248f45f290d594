// Runs one protocol Task: builds the engine's JobRequest from it, feeds the
// engine's events to a reporter, and makes sure a result always reaches the
// server. Anything that goes wrong here fails this task only.

import { parse as parseYaml } from "yaml";
import type { Conclusion } from "../engine/events.js";
import type { JobOutcome, JobRequest, NeedResult, RunJobOptions } from "../engine/job-request.js";
import type { HostBackend } from "../host/sandbox.js";
import type { RunnerConfig } from "../config/types.js";
import { taskLogger, type Logger } from "../observability/logger.js";
import type { ForgejoClient, Task } from "../protocol/index.js";
import { TaskReporter, describe } from "./reporter.js";
import { DeliveryLink } from "./delivery.js";
import { fromResult } from "./results.js";
import { TaskAbort, type TaskHandle } from "./supervisor.js";
import { runInTaskScope } from "./task-scope.js";
import { checkTrust, type TrustPolicy } from "../policy/trust.js";
import { ConnectError, Code } from "../protocol/index.js";
import { notify, type DaemonObserver, type TaskInfo } from "./observer.js";
import { DAEMON_INSTANCE, TaskSpool } from "./spool.js";
import { bootId, jobMarker, markJobProcesses } from "./job-marker.js";
import { jobPlatform } from "../container/job-platform.js";
import { routeJobs, type RunContainerJobFn } from "../container/route-job.js";
import type { ContainerRuntime } from "../container/container-backend.js";
import { parseLabel, type Label } from "../config/index.js";
import { githubTaskContext, payloadJob } from "../workflow/task-job.js";

export type RunJobFn = (req: JobRequest, opts: RunJobOptions) => Promise<JobOutcome>;

export interface TaskRunnerContext {
  client: ForgejoClient;
  /** The connection's delivery link (shared by its tasks); default: one of its own over `client`. */
  link?: DeliveryLink;
  /** Forgejo root URL of the connection the task came from. */
  instanceUrl: string;
  connectionName: string;
  config: Pick<RunnerConfig, "runner"> & Partial<Pick<RunnerConfig, "actions" | "host">>;
  host: HostBackend;
  log: Logger;
  runJob: RunJobFn;
  /** Runs a container job: a worker on `opts.host` whose steps run in the container (default: runJob on the container). */
  runContainerJob?: RunContainerJobFn;
  runnerName?: string;
  /**
   * The connection's labels (`name:schema[:arg]`). A task whose job needs a
   * container (by its label, `container:` or `services:`) is refused.
   */
  labels?: readonly string[];
  /** Runs container jobs (docker labels, `container:`, `services:`); unset: they are refused. */
  containerRuntime?: () => Promise<ContainerRuntime>;
  /** Repositories/events this connection accepts; checked before anything of the task runs. */
  trust?: TrustPolicy;
  /** The connection's cache is read-only (server.connections.<name>.cache_mode: read). */
  cacheReadOnly?: boolean;
  observer?: DaemonObserver;
  /** Wraps the host backend for one job (e.g. Nix GC-root harvesting); `jobLog` writes a row to the job's log. */
  hostFor?: (base: HostBackend, job: JobEnvInfo, jobLog: (line: string) => void) => HostBackend;
  /**
   * `<state dir>/spool`: every task is journaled there (rows, state, kill
   * hints) until its final report is acknowledged. Unset: rows wait in memory.
   */
  spoolRoot?: string;
  /** Registers a source of unacknowledged log bytes while the task runs; returns the unregister function. */
  trackBacklog?: (bytes: () => number) => () => void;
  /** A finished task whose final report ran out of retries: its spool is to be delivered later. */
  onUndelivered?: (spoolDir: string) => void;
  /** Extra per-job env (e.g. from the cache service); released when the task ends. */
  prepareJobEnv?: (info: JobEnvInfo) => Promise<{ env: Record<string, string>; release(): void }>;
}

export interface JobEnvInfo {
  taskId: bigint;
  repository: string;
  runtimeToken: string;
  eventName: string;
  event: Record<string, unknown>;
  ref: string;
  runId?: string;
  /** YAML job id (context.job). */
  jobId?: string;
  readOnly: boolean;
}

export interface TaskResult {
  taskId: bigint;
  result: Conclusion;
  /** Final report delivered (all rows + final state). */
  reported: boolean;
}

/** Thrown for a task the runner cannot run; the message becomes a log row. */
class TaskRejected extends Error {}

export function runTask(task: Task, ctx: TaskRunnerContext, handle: TaskHandle): Promise<TaskResult> {
  const context = githubTaskContext((task.context ?? {}) as Record<string, unknown>, undefined);
  const scope = {
    taskId: String(task.id),
    repository: str(context.repository) ?? "",
    job: str(context.job) ?? "",
    fail: (err: unknown) => handle.cancel("crash", `Error: the runner stopped this job after an internal error: ${describe(err)}`),
  };
  return runInTaskScope(scope, () => runTaskInScope(task, ctx, handle));
}

async function runTaskInScope(task: Task, ctx: TaskRunnerContext, handle: TaskHandle): Promise<TaskResult> {
  const payload = task.workflowPayload ? new TextDecoder().decode(task.workflowPayload) : "";
  const context = githubTaskContext((task.context ?? {}) as Record<string, unknown>, payloadJob(payload));
  const log = taskLogger(ctx.log, {
    taskId: task.id,
    repo: str(context.repository),
    job: str(context.job),
    connection: ctx.connectionName,
  });
  const receivedAt = Date.now();
  const info: TaskInfo = {
    taskId: String(task.id),
    connection: ctx.connectionName,
    repository: str(context.repository) ?? "",
    job: str(context.job) ?? "",
    runsOn: runsOnOf(payload),
  };
  let firstStep = true;
  notify(ctx.observer, "taskStarted", info);
  const stepCount = countSteps(payload);
  const spool = ctx.spoolRoot ? await openSpool(ctx, task, info, stepCount, log) : undefined;
  const reporter = new TaskReporter({
    ...(spool ? { spool } : {}),
    link: ctx.link ?? new DeliveryLink(ctx.client),
    taskId: task.id,
    stepCount,
    reportIntervalMs: ctx.config.runner.report_interval,
    // A hung call must not hold back cancel detection for the whole HTTP timeout.
    callTimeoutMs: Math.max(10_000, 5 * ctx.config.runner.report_interval),
    retry: ctx.config.runner.report_retry,
    log,
    onStepStarted: (_i, time) => {
      if (firstStep) notify(ctx.observer, "firstStepStarted", info, time.getTime() - receivedAt);
      firstStep = false;
    },
    onStepFinished: (_i, ms) => notify(ctx.observer, "stepFinished", info, ms),
    onCallError: (rpc, err) => notify(ctx.observer, "reportError", rpc, Code[ConnectError.from(err).code] ?? "unknown"),
    onCancelRequested: (r) =>
      handle.cancel("server", r === "cancelled" ? "The job was cancelled on the server"
        : r === "gone" ? "The server does not take this task's reports any more: the job was stopped" : "The server stopped the job"),
    onJournalFailed: (err) => handle.cancel("journal", journalFailure(err, ctx.spoolRoot)),
  });
  const untrack = ctx.trackBacklog?.(() => reporter.backlogBytes());
  // Rows the runner writes itself (errors, notes) get the same masking as the job's.
  const secrets = [...Object.values(task.secrets), str(context.token), str(context.gitea_runtime_token), str(context.forgejo_runtime_token)]
    .filter((v): v is string => typeof v === "string" && v.length >= 4)
    .sort((a, b) => b.length - a.length);
  const addRow = (line: string) => reporter.addRow(secrets.reduce((l, v) => l.split(v).join("***"), line));
  reporter.start();
  const onAbort = () => {
    const reason: unknown = handle.signal.reason;
    reporter.markCancelled();
    addRow(reason instanceof TaskAbort ? reason.message : "The job was cancelled");
  };
  handle.signal.addEventListener("abort", onAbort, { once: true });

  let outcome: JobOutcome = { result: "failure", outputs: {} };
  let release: (() => void) | undefined;
  try {
    if (ctx.trust) {
      const verdict = checkTrust(
        {
          repository: str(context.repository) ?? "",
          eventName: str(context.event_name) ?? "",
          event: isObject(context.event) ? context.event : {},
        },
        ctx.trust,
      );
      if (!verdict.ok) {
        // One line: the reason names the repository (or event) and the setting with its rules.
        log.warn(`task refused: ${verdict.reason}`);
        throw new TaskRejected(`Error: this runner does not run this job: ${verdict.reason}`);
      }
    }
    if (!ctx.containerRuntime) refuseContainerJob(payload, ctx.labels);
    const req = buildJobRequest(task, payload, context, ctx);
    const jobInfo: JobEnvInfo = {
      taskId: task.id,
      repository: str(context.repository) ?? "",
      runtimeToken: req.extraEnv?.ACTIONS_RUNTIME_TOKEN ?? "",
      eventName: str(context.event_name) ?? "",
      event: isObject(context.event) ? context.event : {},
      ref: str(context.ref) ?? "",
      runId: str(context.run_id),
      jobId: str(context.job),
      readOnly: ctx.cacheReadOnly === true,
    };
    if (ctx.prepareJobEnv) {
      const extra = await ctx.prepareJobEnv(jobInfo);
      release = extra.release;
      req.extraEnv = { ...extra.env, ...req.extraEnv };
    }
    let host = ctx.hostFor ? ctx.hostFor(ctx.host, jobInfo, addRow) : ctx.host;
    if (spool) {
      let hints = Promise.resolve();
      const marker = jobMarker(ctx.spoolRoot!, spoolKey(ctx.connectionName, task.id));
      host = markJobProcesses(host, marker, (h) => {
        hints = hints.then(() => spool.updateMeta(h)).catch(() => {});
      });
    }
    log.info("job started");
    // Host jobs run in a job worker (ctx.runJob); a container job runs where its container backend is.
    const run = ctx.containerRuntime
      ? routeJobs(ctx.runJob, {
          labels: parseLabels(ctx.labels), unmatched: "container", runtime: ctx.containerRuntime, who: "this runner",
          ...(ctx.runContainerJob ? { runContainer: ctx.runContainerJob } : {}),
        })
      : ctx.runJob;
    outcome = await run(req, { emit: reporter.handle, signal: handle.signal, host });
    if (failedByRunner(handle.signal)) outcome = { ...outcome, result: "failure" };
  } catch (err) {
    const msg = err instanceof TaskRejected ? err.message : `Error: the runner could not run this job: ${describe(err)}`;
    addRow(msg);
    if (!(err instanceof TaskRejected)) {
      log.error({ err: err instanceof Error ? err.stack : String(err) }, "task failed before or while running the job");
    }
    outcome = { result: handle.signal.aborted && !failedByRunner(handle.signal) ? "cancelled" : "failure", outputs: {} };
  } finally {
    handle.signal.removeEventListener("abort", onAbort);
    try {
      release?.();
    } catch {
      // nothing to do
    }
  }
  handle.jobEnded();
  const delivered = await reporter.close({ result: outcome.result, outputs: outcome.outputs }).finally(() => untrack?.());
  const reported = delivered === "delivered" || delivered === "already-done";
  if (spool) {
    await reporter.flushJournal();
    if (reported || delivered === "gone") {
      await spool.remove().catch((err: unknown) => log.warn({ err: describe(err) }, "could not remove the task's spool"));
    } else if (delivered === "revoked") {
      spool.close();
      log.warn({ spool: spool.dir }, "the final report is kept in the spool for the next start");
    } else {
      spool.close();
      log.warn({ spool: spool.dir }, "the final report is kept in the spool and will be delivered when the server answers");
      ctx.onUndelivered?.(spool.dir);
    }
  }
  log.info({ result: outcome.result, reported }, "job finished");
  notify(ctx.observer, "taskFinished", { ...info, result: outcome.result, durationMs: Date.now() - receivedAt, reported });
  return { taskId: task.id, result: outcome.result, reported };
}

/** No path runs a container job on the host: such a task fails with the reason. */
function refuseContainerJob(payload: string, labels: readonly string[] | undefined): void {
  const platform = jobPlatform(payload, parseLabels(labels), { unmatched: labels ? "container" : "host" });
  if (platform.kind === "container") {
    throw new TaskRejected(`Error: this runner does not run this job: ${platform.reason}, and this runner has no container executor`);
  }
}

function parseLabels(labels: readonly string[] | undefined): Label[] {
  const parsed: Label[] = [];
  for (const l of labels ?? []) {
    try {
      parsed.push(parseLabel(l));
    } catch {
      // refused when the config was loaded
    }
  }
  return parsed;
}

/** Spool directory name of a task: connection name (made path-safe) and task id. */
export function spoolKey(connection: string, taskId: bigint): string {
  return `${connection.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 64)}-${taskId}`;
}

async function openSpool(ctx: TaskRunnerContext, task: Task, info: TaskInfo, stepCount: number, log: Logger): Promise<TaskSpool | undefined> {
  const key = spoolKey(ctx.connectionName, task.id);
  try {
    return await TaskSpool.create(ctx.spoolRoot!, key, {
      connection: ctx.connectionName,
      taskId: String(task.id),
      repository: info.repository,
      job: info.job,
      stepCount,
      startedAt: new Date().toISOString(),
      daemonPid: process.pid,
      daemonInstance: DAEMON_INSTANCE,
      marker: jobMarker(ctx.spoolRoot!, key),
      bootId: bootId(),
    });
  } catch (err) {
    // The job still runs; only its crash safety is gone.
    log.error({ err: describe(err), spoolRoot: ctx.spoolRoot }, "could not create the task's spool; its log is kept in memory only");
    return undefined;
  }
}

export function buildJobRequest(
  task: Task,
  payload: string,
  context: Record<string, unknown>,
  ctx: Pick<TaskRunnerContext, "instanceUrl" | "config" | "runnerName">,
): JobRequest {
  if (payload.trim() === "") throw new TaskRejected("Error: the task has no workflow payload");
  const defaultActionsUrl = str(context.forgejo_default_actions_url) || str(context.gitea_default_actions_url);
  if (!defaultActionsUrl) {
    throw new TaskRejected(
      "Error: the task has no default actions URL (context forgejo_default_actions_url / gitea_default_actions_url); " +
        "this Forgejo server is too old for this runner",
    );
  }
  const instance = ctx.instanceUrl.replace(/\/+$/, "");
  const taskToken = str(context.token) ?? "";
  const runtimeToken = str(context.forgejo_runtime_token) || str(context.gitea_runtime_token) || taskToken;
  const extraEnv: Record<string, string> = {
    ACTIONS_RUNTIME_URL: `${instance}/api/actions_pipeline/`,
    ACTIONS_RESULTS_URL: instance,
    ACTIONS_RUNTIME_TOKEN: runtimeToken,
    GITHUB_SERVER_URL: instance,
    GITEA_ACTIONS: "true",
    FORGEJO_ACTIONS: "true",
  };
  const oidcToken = str(context.forgejo_actions_id_token_request_token);
  const oidcUrl = str(context.forgejo_actions_id_token_request_url);
  if (oidcToken && oidcUrl) {
    extraEnv.ACTIONS_ID_TOKEN_REQUEST_TOKEN = oidcToken;
    extraEnv.ACTIONS_ID_TOKEN_REQUEST_URL = oidcUrl;
  }
  const needs: Record<string, NeedResult> = {};
  for (const [job, need] of Object.entries(task.needs)) {
    needs[job] = { result: fromResult(need.result), outputs: { ...need.outputs } };
  }
  return {
    jobKey: `task-${task.id}`,
    workflowYaml: payload,
    workflowFile: str(context.workflow),
    context,
    secrets: { ...task.secrets },
    vars: { ...task.vars },
    needs,
    runnerEnv: { ...ctx.config.runner.envs },
    extraEnv,
    extraMasks: [taskToken, runtimeToken, oidcToken ?? ""].filter((s) => s.length > 0),
    runnerName: ctx.runnerName,
    defaultActionsUrl,
    ...(ctx.config.host?.node ? { nodePath: ctx.config.host.node } : {}),
    ...(ctx.config.actions
      ? {
          actionCacheDir: ctx.config.actions.cache_dir,
          actionCacheOffline: ctx.config.actions.cache_offline,
          actionCacheMaxBytes: ctx.config.actions.max_cache_size,
        }
      : {}),
    ...(ctx.config.runner.insecure ? { insecure: true } : {}),
  };
}

/** The `runs-on` labels of the payload's single job, joined with "," ("" when unreadable). */
export function runsOnOf(payload: string): string {
  try {
    const doc: unknown = parseYaml(payload);
    if (!isObject(doc) || !isObject(doc.jobs)) return "";
    const job = Object.values(doc.jobs)[0];
    if (!isObject(job)) return "";
    const r = job["runs-on"];
    if (typeof r === "string") return r;
    if (Array.isArray(r)) return r.map(String).join(",");
    return "";
  } catch {
    return "";
  }
}

/** Steps of the payload's single job; 0 when the payload cannot be read (the engine reports why). */
export function countSteps(payload: string): number {
  try {
    const doc: unknown = parseYaml(payload);
    if (!isObject(doc) || !isObject(doc.jobs)) return 0;
    const jobs = Object.values(doc.jobs);
    if (jobs.length !== 1 || !isObject(jobs[0])) return 0;
    const steps = jobs[0].steps;
    return Array.isArray(steps) ? steps.length : 0;
  } catch {
    return 0;
  }
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Stopped by the runner itself (journal unwritable, internal error): the job failed, nobody cancelled it. */
function failedByRunner(signal: AbortSignal): boolean {
  return signal.aborted && signal.reason instanceof TaskAbort && (signal.reason.kind === "journal" || signal.reason.kind === "crash");
}

/** The job log's line when the journal cannot be written. */
function journalFailure(err: unknown, root: string | undefined): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const why = code === "ENOSPC" || code === "EDQUOT" ? "no space left on the device" : code === "EIO" ? "an I/O error" : describe(err);
  return `Error: the runner stopped this job: it cannot write the job's journal under ${root ?? "its state directory"} (${code ?? "error"}: ${why}). Rows written before are still delivered; free space there for new jobs.`;
}
