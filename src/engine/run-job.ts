// One job from request to `job-finished`: sandbox, payload, contexts, the
// steps, outputs and summary. Never throws; the sandbox is always disposed.

import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { evaluateCondition, interpolate } from "../expressions/index.js";
import { evalContext, evalEnv, evalFlag, evalMinutes } from "./evaluate.js";
import { parseTaskPayload, payloadMatrix, formatWorkflowError, type JobModel, type RunDefaults, type WorkflowModel, inputsFromDispatchEvent } from "../workflow/index.js";
import type { JobSandbox } from "../host/sandbox.js";
import { VERSION } from "../version.js";
import type { Conclusion } from "./events.js";
import type { JobOutcome, JobRequest, RunJobOptions } from "./job-request.js";
import { JobLog } from "./job-log.js";
import { Masker } from "./masker.js";
import { buildBaseContexts, buildGithubContext } from "./contexts.js";
import { runnerVariables, str, tokenMasks } from "./job-env.js";
import type { JobRuntime, Scope } from "./job-runtime.js";
import { findOnPath } from "./shells.js";
import { actionSource, contextsFor, runPostSteps, runPreSteps, runSteps } from "./steps-runner.js";

/** Time post and always() steps get after a cancellation. */
const CLEANUP_TIMEOUT_MS = 30 * 60_000;

export async function runJob(req: JobRequest, opts: RunJobOptions): Promise<JobOutcome> {
  const masker = new Masker();
  if (!req.insecureSecrets) for (const v of Object.values(req.secrets)) masker.add(v);
  for (const v of req.extraMasks ?? []) masker.add(v);
  for (const v of tokenMasks(req)) masker.add(v);
  const log = new JobLog(opts.emit, masker);
  let outcome: JobOutcome = { result: "failure", outputs: {} };
  let sandbox: JobSandbox | undefined;
  const releases: Array<() => Promise<void>> = [];
  try {
    sandbox = await opts.host.prepareJob({ jobKey: req.jobKey, ...(req.workspaceDir ? { workspaceDir: req.workspaceDir } : {}) });
    outcome = await runInSandbox(req, opts, log, sandbox, releases);
  } catch (e) {
    log.error(`The runner failed to run the job: ${(e as Error).message}`);
    outcome = { result: opts.signal.aborted ? "cancelled" : "failure", outputs: {} };
  } finally {
    for (const release of releases) await release().catch(() => {});
    if (sandbox) {
      await sandbox.dispose().catch((e: Error) => log.warning(`Cleaning up the job failed: ${e.message}`));
    }
  }
  opts.emit({ type: "job-finished", time: new Date(), result: outcome.result, outputs: outcome.outputs });
  return outcome;
}

async function runInSandbox(
  req: JobRequest,
  opts: RunJobOptions,
  log: JobLog,
  sandbox: JobSandbox,
  releases: Array<() => Promise<void>>,
): Promise<JobOutcome> {
  log.write(`native-runner ${VERSION}${req.runnerName ? ` (${req.runnerName})` : ""}, host backend: ${opts.host.name}`);
  const parsed = parseTaskPayload(req.workflowYaml, req.workflowFile);
  if (!parsed.value) {
    log.error("The workflow is not valid:");
    for (const e of parsed.errors) log.error(formatWorkflowError(e));
    return { result: "failure", outputs: {} };
  }
  const { workflow, job } = parsed.value;
  const dirs = sandbox.dirs;
  log.write(`Workspace: ${dirs.workspace}`);

  const eventDir = join(dirs.temp, "_github_workflow");
  // Synchronously: four calls on a fresh directory cost a fraction of four thread-pool round trips.
  mkdirSync(eventDir, { recursive: true });
  chmodSync(eventDir, 0o755);
  const eventPath = join(eventDir, "event.json");
  const event = req.context["event"];
  writeFileSync(eventPath, JSON.stringify(typeof event === "object" && event !== null ? event : {}, null, 2));
  chmodSync(eventPath, 0o644);

  const debug = req.debug === true || req.secrets["ACTIONS_STEP_DEBUG"] === "true" || req.vars["ACTIONS_STEP_DEBUG"] === "true";
  const github = buildGithubContext(req, dirs, eventPath, job);
  const inputs =
    req.inputs ?? (req.context["event_name"] === "workflow_dispatch" ? inputsFromDispatchEvent(workflow.dispatchInputs, event) : undefined);
  const base = buildBaseContexts({ ...req, ...(inputs ? { inputs } : {}) }, dirs, github, job, payloadMatrix(job), debug);

  // Job timeout and cancellation share one signal; post steps get their own.
  const jobAbort = new AbortController();
  let timedOut = false;
  const onCancel = () => jobAbort.abort(opts.signal.reason);
  if (opts.signal.aborted) onCancel();
  else opts.signal.addEventListener("abort", onCancel, { once: true });
  let jobTimer: NodeJS.Timeout | undefined;
  let cleanup: AbortSignal | undefined;

  const jobScope: Scope = {
    kind: "job",
    steps: {},
    failed: false,
    env: () => ({}),
    depth: 0,
    usedIds: new Set(),
  };
  const rt: JobRuntime = {
    req,
    log,
    sandbox,
    base,
    runnerVars: runnerVariables({ req, github, dirs, eventPath, debug }),
    globalEnv: {},
    prependPath: [],
    debug,
    summaries: [],
    posts: [],
    actions: new Map(),
    jobSignal: jobAbort.signal,
    cancelled: () => jobAbort.signal.aborted,
    cleanupSignal: () => (cleanup ??= AbortSignal.timeout(CLEANUP_TIMEOUT_MS)),
    nodePath: "node",
    timedOut: () => timedOut,
    jobScope,
    instances: new Map(),
    preparedForRelease: [],
  };
  releases.push(async () => {
    for (const p of rt.preparedForRelease) await p.release();
  });
  try {
    // Job-level contexts and env.
    const jobCtx = { ...base, forge: github };
    const needsFailed = req.ancestorsFailed === true || Object.values(req.needs).some((n) => n.result === "failure");
    const needsBlocked = Object.values(req.needs).some((n) => n.result === "skipped" || n.result === "cancelled");
    let runIt: boolean;
    try {
      runIt = evaluateCondition(job.if, {
        contexts: jobCtx,
        status: { failed: needsFailed, cancelled: opts.signal.aborted, blocked: needsBlocked },
      });
    } catch (e) {
      log.error(`The job's if: condition could not be evaluated: ${(e as Error).message}`);
      return { result: "failure", outputs: {} };
    }
    if (!runIt && opts.signal.aborted) return { result: "cancelled", outputs: {} };
    if (!runIt) {
      log.write(`Job '${job.name ?? job.id}' skipped: its if: condition is false.`);
      return { result: "skipped", outputs: {} };
    }

    let workflowEnv: Record<string, string>;
    let jobEnv: Record<string, string>;
    let continueOnError = false;
    try {
      workflowEnv = evalEnv(workflow.env, { ...jobCtx, env: {} });
      jobEnv = evalEnv(job.env, { ...jobCtx, env: workflowEnv });
      continueOnError = evalFlag(job.continueOnError, jobCtx);
      const minutes = evalMinutes(job.timeoutMinutes, jobCtx);
      if (minutes !== undefined) {
        jobTimer = setTimeout(() => {
          timedOut = true;
          log.error(`The job has exceeded the maximum execution time of ${minutes} minutes.`);
          jobAbort.abort(new Error("job timeout"));
        }, minutes * 60_000);
        jobTimer.unref();
      }
    } catch (e) {
      log.error((e as Error).message);
      return { result: "failure", outputs: {} };
    }
    jobScope.env = () => ({ ...workflowEnv, ...jobEnv, ...rt.globalEnv });
    const defaults = mergeDefaults(workflow, job);
    if (defaults) jobScope.defaults = defaults;

    const probeEnv = { ...sandbox.baseEnv, ...(req.runnerEnv ?? {}), ...workflowEnv, ...jobEnv };
    rt.nodePath = sandbox.findProgram
      ? (sandbox.findProgram("node", probeEnv["PATH"] ?? "") ?? "node")
      : (req.nodePath ?? findOnPath("node", probeEnv["PATH"] ?? "") ?? process.execPath);

    const source = actionSource(rt, {
      cacheDir: req.actionCacheDir ?? join(dirs.root, "_actions"),
      offline: req.actionCacheOffline ?? false,
      ...(req.insecure ? { insecure: true } : {}),
      ...(req.actionCacheMaxBytes ? { maxCacheBytes: req.actionCacheMaxBytes } : {}),
    });

    try {
      await runPreSteps(rt, job.steps, jobScope, source);
      await runSteps(rt, job.steps, jobScope, source);
    } finally {
      log.enterStage("complete");
      await runPostSteps(rt, jobScope);
    }

    const outputs = evaluateOutputs(rt, job, jobScope);
    emitSummary(rt);
    let result: Conclusion;
    if (opts.signal.aborted) result = "cancelled";
    else if (timedOut || jobScope.failed) result = "failure";
    else result = "success";
    if (result === "failure" && continueOnError) {
      log.write("The job failed; continue-on-error lets the run go on.");
      result = "success";
    }
    return { result, outputs };
  } finally {
    if (jobTimer) clearTimeout(jobTimer);
    opts.signal.removeEventListener("abort", onCancel);
  }
}

function mergeDefaults(workflow: WorkflowModel, job: JobModel): RunDefaults | undefined {
  const w = workflow.defaults?.run;
  const j = job.defaults?.run;
  if (!w && !j) return undefined;
  const out: RunDefaults = {};
  const shell = j?.shell ?? w?.shell;
  const wd = j?.workingDirectory ?? w?.workingDirectory;
  if (shell !== undefined) out.shell = shell;
  if (wd !== undefined) out.workingDirectory = wd;
  return out;
}

function evaluateOutputs(rt: JobRuntime, job: JobModel, scope: Scope): Record<string, string> {
  const out: Record<string, string> = {};
  const contexts = contextsFor(rt, scope, scope.env(), undefined);
  for (const [name, raw] of Object.entries(job.outputs ?? {})) {
    let value: string;
    try {
      value = interpolate(str(raw), evalContext(contexts));
    } catch (e) {
      rt.log.warning(`Output '${name}': ${(e as Error).message}`);
      continue;
    }
    if (rt.log.masker.has(value)) {
      rt.log.warning(`Skip output '${name}' since it may contain secret.`);
      continue;
    }
    out[name] = value;
  }
  return out;
}

function emitSummary(rt: JobRuntime): void {
  if (rt.summaries.length === 0) return;
  const markdown = rt.log.masker.mask(rt.summaries.join("\n"));
  rt.log.raw({ type: "summary", time: new Date(), markdown });
  rt.log.writeMasked("##[group]Job summary");
  for (const line of markdown.replace(/\n$/, "").split("\n")) rt.log.writeMasked(line);
  rt.log.writeMasked("##[endgroup]");
}
