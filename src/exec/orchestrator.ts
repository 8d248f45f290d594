// Does for exec what the Forgejo server does for a run: orders jobs by
// `needs`, evaluates job-level `if:` and `strategy`, expands matrices, hands
// each job instance to the engine as a single-job task, and passes results
// and outputs on to dependents. Local reusable workflows run as nested graphs.

import type { Conclusion, JobEvent } from "../engine/events.js";
import type { JobOutcome, JobRequest, NeedResult, RunJobOptions } from "../engine/job-request.js";
import { evaluateCondition, evaluateValue, toExpressionString, type StatusScope } from "../expressions/index.js";
import type { HostBackend } from "../host/sandbox.js";
import { formatWorkflowError, type JobModel, pathPosition } from "../workflow/index.js";
import { callOutputs, prepareCall } from "./reusable-call.js";
import { expandMatrix, matrixJobName, type MatrixCombo } from "./matrix.js";
import { Semaphore } from "./semaphore.js";
import { singleJobYaml } from "./single-job-yaml.js";
import { buildTaskContext, type RunInfo } from "./task-context.js";
import { displayPath, resolveCalledWorkflow, type LoadedWorkflow } from "./workflow-files.js";

export type RunJobFn = (req: JobRequest, opts: RunJobOptions) => Promise<JobOutcome>;

/** Identity of one job instance, for printers. */
export interface JobRef {
  /** Unique in the run; also the engine's jobKey. */
  key: string;
  jobId: string;
  /** Display name: `build (20, linux)`, `call / inner`. */
  name: string;
  matrix?: MatrixCombo;
  workflow: string;
  /** Key of the calling job for jobs of a reusable workflow. */
  parent?: string;
  /** A reusable-workflow call: its jobs are reported separately. */
  isCall?: boolean;
}

export interface JobFinish {
  /** Result after job-level continue-on-error (what dependents see). */
  result: Conclusion;
  /** Result before continue-on-error. */
  outcome: Conclusion;
  outputs: Record<string, string>;
  durationMs: number;
  /** Why a job that never started was skipped or cancelled. */
  reason?: string;
}

export interface ExecObserver {
  jobStarted(job: JobRef): void;
  jobEvent(job: JobRef, event: JobEvent): void;
  /** Called for every instance, including those never started (skipped, cancelled). */
  jobFinished(job: JobRef, finish: JobFinish): void;
}

export interface OrchestratorOptions {
  /** Repository root and workspace (`-C`). */
  workspaceDir: string;
  run: RunInfo;
  secrets: Record<string, string>;
  vars: Record<string, string>;
  runnerEnv?: Record<string, string>;
  concurrency: number;
  runJob: RunJobFn;
  host: HostBackend;
  observer: ExecObserver;
  signal: AbortSignal;
  runnerName?: string;
  /** Already-loaded workflows by absolute path (reusable workflows are looked up here first). */
  workflowsByPath?: Map<string, LoadedWorkflow>;
  /** Extra fields copied into every JobRequest. */
  requestExtras?: Partial<JobRequest>;
  /** Job slots shared with other orchestrators of the same run; default: `concurrency` slots of its own. */
  slots?: Semaphore;
}

export interface NodeResult {
  result: Conclusion;
  outputs: Record<string, string>;
  /** This job or one of its ancestors failed (failure() in a job-level if: sees every ancestor). */
  upstreamFailed?: boolean;
}

interface Scope {
  wf: LoadedWorkflow;
  /** The workflow the run started from (`github.workflow` stays the caller's). */
  rootWf: LoadedWorkflow;
  inputs: Record<string, unknown>;
  secrets: Record<string, string>;
  keyPrefix: string;
  namePrefix: string;
  parent?: string;
  depth: number;
  signal: AbortSignal;
}

export class Orchestrator {
  private readonly slots: Semaphore;

  constructor(private readonly opts: OrchestratorOptions) {
    this.slots = opts.slots ?? new Semaphore(Math.max(1, opts.concurrency));
  }

  /** Runs the workflow's jobs (or `only` and what they need); resolves with each job's aggregated result. */
  async runWorkflow(
    wf: LoadedWorkflow,
    inputs: Record<string, unknown>,
    opts: { only?: string[]; keyPrefix?: string; namePrefix?: string } = {},
  ): Promise<Record<string, NodeResult>> {
    return this.runGraph(
      {
        wf,
        rootWf: wf,
        inputs,
        secrets: this.opts.secrets,
        keyPrefix: opts.keyPrefix ?? "",
        namePrefix: opts.namePrefix ?? "",
        depth: 0,
        signal: this.opts.signal,
      },
      opts.only,
    );
  }

  private async runGraph(scope: Scope, only?: string[]): Promise<Record<string, NodeResult>> {
    const jobs = new Map(scope.wf.model.jobs.map((j) => [j.id, j]));
    const selected = only ? withNeeds(jobs, only) : [...jobs.keys()];
    const running = new Map<string, Promise<NodeResult>>();
    const get = (id: string): Promise<NodeResult> => {
      let p = running.get(id);
      if (!p) {
        const job = jobs.get(id);
        p = job
          ? (async () => {
              const needs: Record<string, NodeResult> = {};
              for (const n of job.needs) needs[n] = await get(n);
              const r = await this.runNode(job, needs, scope);
              const upstream = Object.values(needs).some((n) => n.upstreamFailed);
              return { ...r, upstreamFailed: upstream || r.result === "failure" };
            })()
          : Promise.resolve<NodeResult>({ result: "failure", outputs: {} });
        running.set(id, p);
      }
      return p;
    };
    const out: Record<string, NodeResult> = {};
    await Promise.all(
      selected.map(async (id) => {
        const { result, outputs } = await get(id);
        out[id] = { result, outputs };
      }),
    );
    return out;
  }

  private githubContext(scope: Scope, jobId: string): Record<string, unknown> {
    return buildTaskContext(this.opts.run, scope.rootWf.name, scope.rootWf.dir, jobId, scope.rootWf.model.name);
  }

  private async runNode(job: JobModel, needs: Record<string, NodeResult>, scope: Scope): Promise<NodeResult> {
    const needsCtx: Record<string, NodeResult> = {};
    for (const id of job.needs) needsCtx[id] = needs[id] ?? { result: "failure", outputs: {} };
    const results = Object.values(needsCtx).map((n) => n.result);
    const ancestorsFailed = Object.values(needsCtx).some((n) => n.upstreamFailed);
    const status: StatusScope = {
      failed: results.includes("failure") || ancestorsFailed,
      cancelled: scope.signal.aborted,
      blocked: results.some((r) => r === "skipped" || r === "cancelled"),
    };
    const contexts: Record<string, unknown> = {
      github: this.githubContext(scope, job.id),
      needs: Object.fromEntries(Object.entries(needsCtx).map(([id, n]) => [id, { result: n.result, outputs: n.outputs }])),
      vars: this.opts.vars,
      inputs: scope.inputs,
    };
    // Before expansion there is no matrix: a name that uses it stays as written, as on GitHub.
    const baseRef = this.ref(scope, job, undefined, 0, 1, contexts);

    let shouldRun: boolean;
    try {
      shouldRun = evaluateCondition(job.if, { contexts, status });
    } catch (err) {
      return this.failUnstarted(baseRef, positioned(this.opts.workspaceDir, scope.wf, ["jobs", job.id, "if"], `Error when evaluating 'if' for job '${job.id}': ${(err as Error).message}`));
    }
    if (!shouldRun) {
      const result: Conclusion = status.cancelled ? "cancelled" : "skipped";
      const reason = skipReason(job, needsCtx, status);
      this.opts.observer.jobFinished(baseRef, { result, outcome: result, outputs: {}, durationMs: 0, reason });
      return { result, outputs: {} };
    }

    let combos: (MatrixCombo | undefined)[] = [undefined];
    let failFast = true;
    let maxParallel = Number.POSITIVE_INFINITY;
    if (job.strategy) {
      try {
        const ctx = { contexts };
        if (job.strategy.matrix !== undefined) {
          const expanded = expandMatrix(evaluateValue(job.strategy.matrix, ctx));
          if (expanded) combos = expanded;
        }
        if (job.strategy.failFast !== undefined) failFast = isTrue(evaluateValue(job.strategy.failFast, ctx));
        if (job.strategy.maxParallel !== undefined) {
          const n = Number(evaluateValue(job.strategy.maxParallel, ctx));
          if (Number.isFinite(n) && n >= 1) maxParallel = Math.floor(n);
        }
      } catch (err) {
        return this.failUnstarted(baseRef, positioned(this.opts.workspaceDir, scope.wf, ["jobs", job.id, "strategy"], `Error when evaluating 'strategy' for job '${job.id}': ${(err as Error).message}`));
      }
    }

    const failFastCtl = new AbortController();
    const perJob = new Semaphore(maxParallel);
    // A job that runs although the run is already cancelled (if: always()) runs to
    // its end, as on GitHub; a second Ctrl-C ends the process.
    const runSignal = scope.signal.aborted ? new AbortController().signal : scope.signal;
    const signal = AbortSignal.any([runSignal, failFastCtl.signal]);
    const finished: NodeResult[] = [];
    await Promise.all(
      combos.map(async (combo, i) => {
        const strategy = { "fail-fast": failFast, "max-parallel": Number.isFinite(maxParallel) ? maxParallel : combos.length, "job-index": i, "job-total": combos.length };
        const instanceContexts = { ...contexts, matrix: combo ?? {}, strategy };
        const ref = this.ref(scope, job, combo, i, combos.length, instanceContexts);
        const release = await perJob.acquire();
        try {
          if (failFastCtl.signal.aborted) {
            this.opts.observer.jobFinished(ref, { result: "cancelled", outcome: "cancelled", outputs: {}, durationMs: 0, reason: "fail-fast: another instance of the matrix failed" });
            finished.push({ result: "cancelled", outputs: {} });
            return;
          }
          const r = await this.runInstance(job, ref, instanceContexts, needsCtx, scope, signal, strategy);
          finished.push(r);
          if (r.result === "failure" && failFast && combos.length > 1) failFastCtl.abort(new Error("fail-fast"));
        } finally {
          release();
        }
      }),
    );
    return aggregate(finished);
  }

  private ref(
    scope: Scope,
    job: JobModel,
    combo: MatrixCombo | undefined,
    index: number,
    total: number,
    contexts?: Record<string, unknown>,
  ): JobRef {
    let name = job.name ?? job.id;
    if (job.name?.includes("${{") && contexts) {
      try {
        name = toExpressionString(evaluateValue(job.name, { contexts }));
      } catch {
        name = job.name;
      }
    } else if (combo) {
      name = matrixJobName(name, combo);
    }
    const ref: JobRef = {
      key: `${scope.keyPrefix}${job.id}${total > 1 ? `-${index + 1}` : ""}`,
      jobId: job.id,
      name: scope.namePrefix + name,
      workflow: scope.wf.name,
    };
    if (combo) ref.matrix = combo;
    if (scope.parent) ref.parent = scope.parent;
    if (job.uses) ref.isCall = true;
    return ref;
  }

  private failUnstarted(ref: JobRef, message: string): NodeResult {
    const { observer } = this.opts;
    observer.jobStarted(ref);
    observer.jobEvent(ref, { type: "annotation", time: new Date(), level: "error", message });
    observer.jobEvent(ref, { type: "log", time: new Date(), line: `##[error]${message}`, stage: "setup" });
    observer.jobFinished(ref, { result: "failure", outcome: "failure", outputs: {}, durationMs: 0 });
    return { result: "failure", outputs: {} };
  }

  private async runInstance(
    job: JobModel,
    ref: JobRef,
    contexts: Record<string, unknown>,
    needs: Record<string, NodeResult>,
    scope: Scope,
    signal: AbortSignal,
    strategy: NonNullable<JobRequest["strategy"]>,
  ): Promise<NodeResult> {
    const started = Date.now();
    let outcome: NodeResult;
    if (job.uses) {
      this.opts.observer.jobStarted(ref);
      outcome = await this.runCall(job, ref, contexts, scope, signal);
    } else {
      const release = await this.slots.acquire();
      try {
        this.opts.observer.jobStarted(ref);
        outcome = await this.runLeaf(job, ref, needs, scope, signal, strategy);
      } finally {
        release();
      }
    }
    let continueOnError = false;
    if (job.continueOnError !== undefined) {
      try {
        continueOnError = isTrue(evaluateValue(job.continueOnError, { contexts }));
      } catch {
        continueOnError = false;
      }
    }
    const result = outcome.result === "failure" && continueOnError ? "success" : outcome.result;
    this.opts.observer.jobFinished(ref, { result, outcome: outcome.result, outputs: outcome.outputs, durationMs: Date.now() - started });
    return { result, outputs: outcome.outputs };
  }

  private async runLeaf(
    job: JobModel,
    ref: JobRef,
    needs: Record<string, NodeResult>,
    scope: Scope,
    signal: AbortSignal,
    strategy: NonNullable<JobRequest["strategy"]>,
  ): Promise<NodeResult> {
    const { opts } = this;
    const needResults: Record<string, NeedResult> = {};
    for (const [id, n] of Object.entries(needs)) needResults[id] = { result: n.result, outputs: n.outputs };
    const req: JobRequest = {
      ...opts.requestExtras,
      jobKey: ref.key,
      workflowYaml: singleJobYaml(scope.wf.raw, job.id, ref.name.slice(scope.namePrefix.length), ref.matrix),
      workflowFile: scope.wf.name,
      context: this.githubContext(scope, job.id),
      secrets: scope.secrets,
      vars: opts.vars,
      needs: needResults,
      ancestorsFailed: Object.values(needs).some((n) => n.upstreamFailed),
      inputs: scope.inputs,
      runnerEnv: opts.runnerEnv ?? {},
      defaultActionsUrl: opts.run.defaultActionsUrl,
      workspaceDir: opts.workspaceDir,
      strategy,
    };
    if (opts.runnerName) req.runnerName = opts.runnerName;
    let final: JobOutcome | undefined;
    const emit = (ev: JobEvent) => {
      if (ev.type === "job-finished") {
        final = { result: ev.result, outputs: ev.outputs };
        return;
      }
      opts.observer.jobEvent(ref, ev);
    };
    try {
      const outcome = await opts.runJob(req, { emit, signal, host: opts.host });
      return { result: outcome.result, outputs: outcome.outputs ?? final?.outputs ?? {} };
    } catch (err) {
      const message = `The job could not run: ${(err as Error).message ?? String(err)}`;
      opts.observer.jobEvent(ref, { type: "annotation", time: new Date(), level: "error", message });
      opts.observer.jobEvent(ref, { type: "log", time: new Date(), line: `##[error]${message}`, stage: "complete" });
      return { result: signal.aborted ? "cancelled" : "failure", outputs: {} };
    }
  }

  private async runCall(
    job: JobModel,
    ref: JobRef,
    contexts: Record<string, unknown>,
    scope: Scope,
    signal: AbortSignal,
  ): Promise<NodeResult> {
    const log = (message: string) => {
      this.opts.observer.jobEvent(ref, { type: "annotation", time: new Date(), level: "error", message });
      this.opts.observer.jobEvent(ref, { type: "log", time: new Date(), line: `##[error]${message}`, stage: "setup" });
    };
    const resolved = resolveCalledWorkflow(this.opts.workspaceDir, job.uses!);
    const called = resolved.path ? this.opts.workflowsByPath?.get(resolved.path) : undefined;
    if (!called) {
      log(resolved.error ?? `reusable workflow '${job.uses}' was not loaded`);
      return { result: "failure", outputs: {} };
    }
    if (scope.depth >= 10) {
      log(`reusable workflow '${job.uses}': nested too deep`);
      return { result: "failure", outputs: {} };
    }
    let prepared: { inputs: Record<string, unknown>; secrets: Record<string, string> };
    try {
      prepared = prepareCall(job, called, contexts, scope.secrets);
    } catch (err) {
      log(`Error when preparing the call of '${job.uses}': ${(err as Error).message}`);
      return { result: "failure", outputs: {} };
    }
    const inner = await this.runGraph({
      wf: called,
      rootWf: scope.rootWf,
      inputs: prepared.inputs,
      secrets: prepared.secrets,
      keyPrefix: `${ref.key}.`,
      namePrefix: `${ref.name} / `,
      parent: ref.key,
      depth: scope.depth + 1,
      signal,
    });
    try {
      const outputs = callOutputs(called, { github: contexts.github, inputs: prepared.inputs, vars: this.opts.vars, jobs: inner });
      return { result: aggregate(Object.values(inner)).result, outputs };
    } catch (err) {
      log(`${job.uses}: ${(err as Error).message}`);
      return { result: "failure", outputs: {} };
    }
  }
}

/** A job's result over its matrix instances, and outputs merged (a later non-empty value wins). */
export function aggregate(instances: NodeResult[]): NodeResult {
  const results = instances.map((r) => r.result);
  let result: Conclusion = "success";
  if (results.includes("failure")) result = "failure";
  else if (results.includes("cancelled")) result = "cancelled";
  else if (results.length > 0 && results.every((r) => r === "skipped")) result = "skipped";
  const outputs: Record<string, string> = {};
  for (const r of instances) {
    for (const [k, v] of Object.entries(r.outputs)) if (v !== "" || !(k in outputs)) outputs[k] = v;
  }
  return { result, outputs };
}

/** `file (Line: n, Col: m): message`, pointing at a key of the workflow file. */
function positioned(root: string, wf: LoadedWorkflow, keys: string[], message: string): string {
  return formatWorkflowError({ file: displayPath(root, wf.path), ...pathPosition(wf.text, keys), message });
}

function withNeeds(jobs: Map<string, JobModel>, only: string[]): string[] {
  const out = new Set<string>();
  const visit = (id: string) => {
    if (out.has(id)) return;
    out.add(id);
    for (const n of jobs.get(id)?.needs ?? []) visit(n);
  };
  for (const id of only) visit(id);
  return [...out];
}

function isTrue(v: unknown): boolean {
  return !(v === false || v === null || v === undefined || v === 0 || v === "" || v === "false");
}

/** Why a job's `if:` kept it from running, in words for the run summary. */
function skipReason(job: JobModel, needs: Record<string, NodeResult>, status: StatusScope): string {
  if (status.cancelled) return "the run was cancelled";
  const cond = job.if?.trim() ?? "";
  const usesStatus = /\b(success|failure|always|cancelled)\s*\(/i.test(cond);
  const notOk = Object.entries(needs).filter(([, n]) => n.result !== "success");
  if (!usesStatus && notOk.length > 0) {
    const word = (r: Conclusion) => (r === "failure" ? "failed" : r === "skipped" ? "was skipped" : "was cancelled");
    return notOk.map(([id, n]) => `needed job '${id}' ${word(n.result)}`).join(", ");
  }
  return cond === "" ? "its if: is false" : `if: ${cond} is false`;
}
