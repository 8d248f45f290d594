// A task whose job calls a reusable workflow (`jobs.<id>.uses`), as a server
// that does not expand such calls hands it over: the called workflow is
// fetched from the server (the caller's repository at its commit, or
// owner/repo@ref) with the task token, and its jobs run here, one after the
// other, through the same engine and host. Their log rows go to the calling
// task's log; the call's outputs become the task's outputs.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Conclusion, JobEvent } from "../engine/events.js";
import type { JobOutcome, JobRequest, RunJobOptions } from "../engine/job-request.js";
import { evaluateCondition } from "../expressions/index.js";
import { basicAuthorization, runGit, type GitRemote } from "../actions/index.js";
import { buildJob, payloadMatrix, formatWorkflowError, githubTaskContext, payloadJob, workflowCallOf, type PayloadJob, type WorkflowCall } from "../workflow/index.js";
import { aggregate, Orchestrator, type ExecObserver, type JobRef, type RunJobFn } from "./orchestrator.js";
import { callOutputs, prepareCall } from "./reusable-call.js";
import type { RunInfo } from "./task-context.js";
import { loadWorkflowSet } from "./workflow-files.js";

/** `runJob`, extended to jobs that call a reusable workflow; every other job goes to `runJob` unchanged. */
export function withWorkflowCalls(runJob: RunJobFn): RunJobFn {
  return async (req, opts) => {
    // A job that calls a workflow has a `uses` key: without the word anywhere in the payload, the YAML is not read
    // here a first time before the engine reads and validates it (the first read in a worker compiles the reader).
    if (!req.workflowYaml.includes("uses")) return runJob(req, opts);
    const job = payloadJob(req.workflowYaml);
    let call: WorkflowCall | undefined;
    try {
      call = workflowCallOf(job);
    } catch (err) {
      return fail(opts, (err as Error).message);
    }
    if (!call || !job) return runJob(req, opts);
    return runWorkflowCall(req, opts, job, call, runJob);
  };
}

function fail(opts: RunJobOptions, message: string, result: Conclusion = "failure"): JobOutcome {
  opts.emit({ type: "annotation", time: new Date(), level: "error", message });
  opts.emit({ type: "log", time: new Date(), line: `##[error]${message}`, stage: "setup" });
  opts.emit({ type: "job-finished", time: new Date(), result, outputs: {} });
  return { result, outputs: {} };
}

async function runWorkflowCall(req: JobRequest, opts: RunJobOptions, job: PayloadJob, call: WorkflowCall, runJob: RunJobFn): Promise<JobOutcome> {
  const log = (line: string) => opts.emit({ type: "log", time: new Date(), line, stage: "setup" });
  const context = githubTaskContext(req.context, job);
  const token = str(context.token);
  const serverUrl = (str(context.server_url) || req.extraEnv?.GITHUB_SERVER_URL || "").replace(/\/+$/, "");
  const [repository, ref] =
    call.source.kind === "local" ? [str(context.repository), str(context.sha) || str(context.ref)] : [call.source.repository, call.source.ref];
  if (!serverUrl || !repository || !ref) return fail(opts, `reusable workflow '${call.uses}': the task does not say which server, repository or commit to read it from`);

  const caller = buildJob(job.key, job.raw);
  const contexts: Record<string, unknown> = {
    github: context,
    needs: req.needs,
    vars: req.vars,
    inputs: req.inputs ?? {},
    matrix: payloadMatrix(caller) ?? {},
  };
  // The calling job's own if:, as the engine evaluates it for a job with steps.
  const failed = req.ancestorsFailed === true || Object.values(req.needs).some((n) => n.result === "failure");
  const blocked = Object.values(req.needs).some((n) => n.result === "skipped" || n.result === "cancelled");
  let runIt: boolean;
  try {
    runIt = evaluateCondition(caller.if, { contexts, status: { failed, cancelled: opts.signal.aborted, blocked } });
  } catch (err) {
    return fail(opts, `The job's if: condition could not be evaluated: ${(err as Error).message}`);
  }
  if (!runIt) {
    const result: Conclusion = opts.signal.aborted ? "cancelled" : "skipped";
    if (result === "skipped") log(`Job '${job.key}' skipped: its if: condition is false.`);
    opts.emit({ type: "job-finished", time: new Date(), result, outputs: {} });
    return { result, outputs: {} };
  }
  const root = await mkdtemp(join(tmpdir(), "nr-call-"));
  try {
    const remote: GitRemote = {
      url: `${serverUrl}/${repository}`,
      ...(token ? { authorization: basicAuthorization("x-access-token", token) } : {}),
      ...(req.insecure ? { insecure: true } : {}),
    };
    log(`Fetching reusable workflow ${call.uses} from ${remote.url} at ${ref}`);
    try {
      const git = { cwd: root, remote, signal: opts.signal, secrets: token ? [token] : [] };
      await runGit(["init", "-q", root], git);
      await runGit(["fetch", "-q", "--depth=1", "--no-tags", remote.url, ref], git);
      await runGit(["checkout", "-q", "--detach", "FETCH_HEAD"], git);
    } catch (err) {
      return fail(opts, `reusable workflow '${call.uses}': ${(err as Error).message}`, opts.signal.aborted ? "cancelled" : "failure");
    }
    const file = join(root, call.source.path);
    const set = loadWorkflowSet(root, [file]);
    const callee = set.called.get(file);
    const problems = [...set.errors, ...[...set.remoteCalls.values()].flat()];
    if (!callee || problems.length > 0) {
      for (const e of problems) log(`##[error]${formatWorkflowError(e)}`);
      return fail(opts, `reusable workflow '${call.uses}' is not valid`);
    }

    let prepared: ReturnType<typeof prepareCall>;
    try {
      prepared = prepareCall(caller, callee, contexts, req.secrets);
    } catch (err) {
      return fail(opts, `Error when preparing the call of '${call.uses}': ${(err as Error).message}`);
    }

    const callerName = typeof job.raw.name === "string" && job.raw.name !== "" ? job.raw.name : job.key;
    const observer: ExecObserver = {
      jobStarted: (ref: JobRef) => {
        if (!ref.isCall) log(`Job ${ref.name}: started`);
      },
      jobEvent: (_ref, ev: JobEvent) => {
        if (ev.type === "log") log(ev.line);
      },
      jobFinished: (ref, finish) => log(`Job ${ref.name}: ${finish.result}`),
    };
    const orchestrator = new Orchestrator({
      workspaceDir: root,
      run: runInfo(context, req),
      secrets: prepared.secrets,
      vars: req.vars,
      ...(req.runnerEnv ? { runnerEnv: req.runnerEnv } : {}),
      concurrency: 1,
      // Each called job is a job of its own: the server's context (with its
      // key as `job`), a fresh workspace, and the task's settings.
      runJob: (inner, o) => {
        const { workspaceDir: _ignored, ...rest } = req;
        return runJob(
          {
            ...rest,
            jobKey: `${req.jobKey}-${inner.jobKey.replace(/[^A-Za-z0-9._-]/g, "_")}`,
            workflowYaml: inner.workflowYaml,
            workflowFile: inner.workflowFile,
            context: { ...context, job: inner.context.job },
            secrets: inner.secrets,
            needs: inner.needs,
            inputs: inner.inputs ?? {},
            ...(inner.strategy ? { strategy: inner.strategy } : {}),
            // The caller's secrets stay masked even when they are not passed on.
            extraMasks: [...(req.extraMasks ?? []), ...Object.values(req.secrets)],
          },
          o,
        );
      },
      host: opts.host,
      observer,
      signal: opts.signal,
      ...(req.runnerName ? { runnerName: req.runnerName } : {}),
      workflowsByPath: set.called,
    });
    const results = await orchestrator.runWorkflow(callee, prepared.inputs, { namePrefix: `${callerName} / ` });
    let outputs: Record<string, string> = {};
    let result = aggregate(Object.values(results)).result;
    if (opts.signal.aborted && result !== "failure") result = "cancelled";
    try {
      outputs = callOutputs(callee, { github: context, inputs: prepared.inputs, vars: req.vars, jobs: results });
    } catch (err) {
      log(`##[error]${call.uses}: ${(err as Error).message}`);
      result = "failure";
    }
    if (result !== "success") outputs = {};
    opts.emit({ type: "job-finished", time: new Date(), result, outputs });
    return { result, outputs };
  } finally {
    await rm(root, { recursive: true, force: true }).catch(() => {});
  }
}

/** What the orchestrator needs to know about the run; the jobs themselves get the server's context. */
function runInfo(context: Record<string, unknown>, req: JobRequest): RunInfo {
  const repository = str(context.repository);
  const [owner = "", name = ""] = repository.split("/");
  return {
    repo: {
      repository,
      owner,
      name,
      serverUrl: str(context.server_url),
      sha: str(context.sha),
      ref: str(context.ref),
      actor: str(context.actor),
      defaultBranch: "",
    },
    eventName: str(context.event_name),
    event: isObj(context.event) ? context.event : {},
    runId: Number(str(context.run_id)) || 0,
    runNumber: Number(str(context.run_number)) || 0,
    token: str(context.token),
    runtimeToken: req.extraEnv?.ACTIONS_RUNTIME_TOKEN ?? "",
    defaultActionsUrl: req.defaultActionsUrl ?? "",
  };
}

function str(v: unknown): string {
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : "";
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
