// The steps of a job, top to bottom: pre steps at set-up, then each main step
// (condition, env, handler, result), then post steps in reverse order.

import { evaluateCondition, interpolate, withHashFiles, ExpressionError } from "../expressions/index.js";
import { evalContext, evalFlag, evalMinutes, evalString } from "./evaluate.js";
import { prepareAction } from "../actions/index.js";
import type { PreparedAction } from "../actions/types.js";
import type { StepModel } from "../workflow/model.js";
import type { Conclusion } from "./events.js";
import type { ActionInstance, JobRuntime, Scope } from "./job-runtime.js";
import { runCompositeAction } from "./handlers/composite.js";
import { runDockerAction, runDockerPre } from "./handlers/docker.js";
import { runActionProcess, runPostStep, runScriptAction } from "./handlers/node.js";
import { runScriptStep } from "./handlers/run.js";
import type { HandlerResult, StepInvocation } from "./handlers/types.js";
import { inputEnv, resolveInputs } from "./action-inputs.js";
import { JobLog } from "./job-log.js";
import { selfCheckoutDecision } from "./self-checkout.js";

export interface ActionSource {
  prepare(uses: string, signal: AbortSignal): Promise<PreparedAction>;
}

/** Main steps of a scope, in order. */
export async function runSteps(rt: JobRuntime, steps: StepModel[], scope: Scope, actions: ActionSource): Promise<void> {
  for (const step of steps) {
    await runStep(rt, step, scope, actions);
  }
}

/** Pre steps of the job's remote JS actions (GitHub runs none for local actions). */
export async function runPreSteps(rt: JobRuntime, steps: StepModel[], scope: Scope, actions: ActionSource): Promise<void> {
  for (const step of steps) {
    const uses = step.uses;
    if (uses === undefined || uses.startsWith("./") || uses.startsWith("docker://") || step.run !== undefined) continue;
    if (rt.req.protectWorkingCopy && isProtectedCheckout(rt, step, scope)) continue;
    let prepared: PreparedAction;
    try {
      prepared = await actions.prepare(uses, rt.jobSignal);
    } catch {
      continue; // reported by the main step
    }
    const id = stepId(step, scope);
    const instance: ActionInstance = { prepared, state: {}, stepId: id, uses };
    rt.instances.set(step.index, instance);
    const runs = prepared.metadata.runs;
    if (runs.using === "composite" || runs.using === "go") continue;
    if (runs.using === "docker" ? !runs.preEntrypoint : !runs.pre) continue;
    const env = scope.env();
    const contexts = contextsFor(rt, scope, env, undefined);
    const ctx = { contexts, status: { failed: scope.failed, cancelled: rt.cancelled() }, workspace: rt.sandbox.dirs.workspace };
    try {
      // Input warnings are reported once, by the main step.
      const quiet = new JobLog(() => {}, rt.log.masker);
      const values = await withHashFiles(() => resolveInputs(prepared.metadata, step.with ?? {}, ctx, quiet), rt.jobSignal);
      const preCtx = { ...ctx, contexts: { ...contexts, inputs: values } };
      if (!(await withHashFiles(() => evaluateCondition(runs.preIf ?? "always()", preCtx), rt.jobSignal))) continue;
      rt.log.write(`Pre ${step.name ?? uses}`);
      const res =
        runs.using === "docker"
          ? await runDockerPre(rt, instance, runs, env, values, rt.jobSignal)
          : await runActionProcess(rt, instance, runs.using === "sh" ? "sh" : "node", runs.pre!, { ...env, ...(runs.env ?? {}) }, inputEnv(values), rt.jobSignal);
      if (res.outcome !== "success") scope.failed = true;
    } catch (e) {
      rt.log.error((e as Error).message);
      scope.failed = true;
    }
  }
}

/** Post steps, last registered first; a failing post step fails the job. */
export async function runPostSteps(rt: JobRuntime, scope: Scope): Promise<void> {
  for (const post of [...rt.posts].reverse()) {
    const env = post.env;
    const contexts = contextsFor(rt, scope, env, post.instance);
    const ctx = { contexts, status: { failed: scope.failed, cancelled: rt.cancelled() }, workspace: rt.sandbox.dirs.workspace };
    try {
      if (!(await withHashFiles(() => evaluateCondition(post.condition, ctx), rt.cleanupSignal()))) continue;
      rt.log.write(`##[group]${post.name}`);
      let res;
      try {
        res = await runPostStep(rt, post, rt.cleanupSignal());
      } finally {
        rt.log.write("##[endgroup]");
      }
      if (res.outcome !== "success") scope.failed = true;
    } catch (e) {
      rt.log.error((e as Error).message);
      scope.failed = true;
    }
  }
}

export function jobStatus(rt: JobRuntime): "success" | "failure" | "cancelled" {
  if (rt.cancelled()) return "cancelled";
  return rt.jobScope.failed ? "failure" : "success";
}

export function contextsFor(rt: JobRuntime, scope: Scope, env: Record<string, string>, action: ActionInstance | undefined): Record<string, unknown> {
  const github: Record<string, unknown> = { ...rt.base.github };
  const a = action ?? scope.action;
  if (a) {
    github["action_path"] = a.prepared.dir;
    github["action_repository"] = a.prepared.repository ?? "";
    github["action_ref"] = a.prepared.ref ?? "";
  }
  // Inside a composite action: its current result so far.
  if (scope.kind === "composite") github["action_status"] = rt.cancelled() ? "cancelled" : scope.failed ? "failure" : "success";
  return {
    ...rt.base,
    github,
    forge: github,
    env,
    steps: scope.steps,
    job: { status: jobStatus(rt), container: {}, services: {} },
    inputs: scope.inputs ?? rt.base.inputs,
  };
}

function isProtectedCheckout(rt: JobRuntime, step: StepModel, scope: Scope): boolean {
  try {
    return selfCheckoutDecision(step, contextsFor(rt, scope, scope.env(), undefined), rt.sandbox.dirs.workspace) !== undefined;
  } catch {
    return false;
  }
}

function stepId(step: StepModel, scope: Scope): string {
  if (step.id) return step.id;
  const base = step.uses !== undefined && step.run === undefined ? `__${step.uses.replace(/@.*$/, "").replace(/[^A-Za-z0-9]+/g, "_").replace(/^_+|_+$/g, "")}` : "__run";
  let id = base;
  for (let n = 2; scope.usedIds.has(id); n++) id = `${base}_${n}`;
  return id;
}

export function displayName(step: StepModel, contexts: Record<string, unknown>): string {
  if (step.name !== undefined && step.name !== "") {
    try {
      return interpolate(step.name, evalContext(contexts));
    } catch {
      return step.name;
    }
  }
  if (step.run !== undefined) return `Run ${step.run.trim().split("\n")[0] ?? ""}`;
  return `Run ${step.uses ?? ""}`;
}

async function runStep(rt: JobRuntime, step: StepModel, scope: Scope, actions: ActionSource): Promise<void> {
  const top = scope.kind === "job";
  const id = stepId(step, scope);
  scope.usedIds.add(id);
  const envBefore = scope.env();
  const baseContexts = contextsFor(rt, scope, envBefore, undefined);
  // The step's own `if:` and `env:` already see its id as github.action (GitHub sets it before both).
  (baseContexts["github"] as Record<string, unknown>)["action"] = id;
  const name = displayName(step, baseContexts);
  if (top) {
    rt.log.enterStep(step.index);
    rt.log.raw({ type: "step-started", time: new Date(), index: step.index, id, name: rt.log.masker.mask(name) });
  }
  let outcome: Conclusion = "failure";
  let outputs: Record<string, string> = {};
  let continueOnError = false;
  try {
    let run = false;
    const status = { failed: scope.failed, cancelled: rt.cancelled() };
    const evalSignal = scope.signal ?? (rt.cancelled() ? rt.cleanupSignal() : rt.jobSignal);
    try {
      const ifCtx = { contexts: baseContexts, status, workspace: rt.sandbox.dirs.workspace };
      run = await withHashFiles(() => evaluateCondition(step.if, ifCtx), evalSignal);
      if (rt.debug) {
        rt.log.write(`##[debug]Evaluating condition for step: '${name}'`);
        rt.log.write(`##[debug]Evaluating: ${step.if ?? "success()"}`);
        rt.log.write(`##[debug]Result: ${run}`);
      }
    } catch (e) {
      rt.log.error(`The step failed and an error occurred when attempting to determine whether to continue: ${(e as Error).message}`);
      outcome = "failure";
      return;
    }
    if (!run) {
      outcome = "skipped";
      return;
    }
    const env: Record<string, string> = { ...envBefore };
    for (const [k, raw] of Object.entries(step.env ?? {})) env[k] = await withHashFiles(() => evalString(raw, baseContexts), evalSignal);
    const contexts = contextsFor(rt, scope, env, undefined);
    (contexts["github"] as Record<string, unknown>)["action"] = id;
    continueOnError = await withHashFiles(() => evalFlag(step.continueOnError, contexts), evalSignal);
    const minutes = await withHashFiles(() => evalMinutes(step.timeoutMinutes, contexts), evalSignal);
    const parent = scope.signal ?? (rt.cancelled() ? rt.cleanupSignal() : rt.jobSignal);
    const timeout = minutes === undefined ? undefined : AbortSignal.timeout(minutes * 60_000);
    const signal = timeout ? AbortSignal.any([parent, timeout]) : parent;
    const inv: StepInvocation = {
      rt, scope, step, id, name, contexts, env, signal,
      runSteps: (inner, innerScope) => runSteps(rt, inner, innerScope, actions),
    };
    const result = await dispatch(inv, actions, top ? rt.instances.get(step.index) : undefined);
    outputs = result.outputs;
    if (timeout?.aborted) {
      rt.log.error(`The action '${name}' has timed out after ${minutes} minutes.`);
      outcome = "failure";
    } else if (parent.aborted && rt.cancelled()) {
      outcome = rt.timedOut() ? "failure" : "cancelled";
      rt.log.error("The operation was canceled.");
    } else {
      outcome = result.outcome;
    }
  } catch (e) {
    rt.log.error(e instanceof ExpressionError ? e.message : `${(e as Error).message}`);
    outcome = "failure";
  } finally {
    const conclusion: Conclusion = outcome === "failure" && continueOnError ? "success" : outcome;
    // Generated ids (`__run`, `__owner_repo`) stay out of the steps context, as on GitHub.
    if (!id.startsWith("__")) scope.steps[id] = { outputs, outcome, conclusion };
    if (conclusion === "failure") scope.failed = true;
    if (top) {
      const shown: Record<string, string> = {};
      for (const [k, v] of Object.entries(outputs)) shown[k] = rt.log.masker.mask(v);
      rt.log.raw({ type: "step-finished", time: new Date(), index: step.index, id, outcome, conclusion, outputs: shown });
    }
  }
}

async function dispatch(inv: StepInvocation, actions: ActionSource, preInstance: ActionInstance | undefined): Promise<HandlerResult> {
  const { rt, step } = inv;
  if (step.run !== undefined) return runScriptStep(inv);
  if (step.uses === undefined || step.uses === "") {
    rt.log.error("A step must have either `run` or `uses`.");
    return { outcome: "failure", outputs: {} };
  }
  if (rt.req.protectWorkingCopy) {
    const decision = selfCheckoutDecision(step, inv.contexts, rt.sandbox.dirs.workspace);
    if (decision?.kind === "skip") {
      rt.log.write(decision.note);
      return { outcome: "success", outputs: {} };
    }
    if (decision?.kind === "refuse") {
      rt.log.error(decision.message);
      return { outcome: "failure", outputs: {} };
    }
  }
  let instance = preInstance;
  if (instance) instance.stepId = inv.id;
  else {
    let prepared: PreparedAction;
    try {
      prepared = await actions.prepare(step.uses, inv.signal);
    } catch (e) {
      rt.log.error((e as Error).message);
      return { outcome: "failure", outputs: {} };
    }
    instance = { prepared, state: {}, stepId: inv.id, uses: step.uses };
  }
  const runs = instance.prepared.metadata.runs;
  switch (runs.using) {
    case "node12":
    case "node16":
    case "node20":
    case "node24":
    case "sh":
      return runScriptAction(inv, instance, runs);
    case "composite":
      return runCompositeAction(inv, instance, runs);
    case "docker":
      return runDockerAction(inv, instance, runs);
    case "go":
      rt.log.error(`${step.uses}: 'runs.using: go' actions are not supported by this runner.`);
      return { outcome: "failure", outputs: {} };
    default: {
      const never: never = runs;
      rt.log.error(`Unsupported action type ${JSON.stringify(never)}`);
      return { outcome: "failure", outputs: {} };
    }
  }
}

/** Fetches actions through src/actions, caching by `uses` text for the job. */
export function actionSource(rt: JobRuntime, opts: { cacheDir: string; offline: boolean; insecure?: boolean; maxCacheBytes?: number }): ActionSource {
  return {
    async prepare(uses, signal) {
      const isLocal = uses.startsWith("./") || uses.startsWith(".\\");
      const known = isLocal ? undefined : rt.actions.get(uses);
      if (known) return known;
      const github = rt.base.github;
      const defaultUrl = rt.req.defaultActionsUrl ?? strOf(github["forgejo_default_actions_url"]) ?? strOf(github["gitea_default_actions_url"]);
      const token = strOf(github["token"]);
      const serverUrl = strOf(github["server_url"]);
      const prepared = await prepareAction(uses, {
        workspace: rt.sandbox.dirs.workspace,
        cacheDir: opts.cacheDir,
        offline: opts.offline,
        signal,
        log: (line) => rt.log.write(line),
        ...(defaultUrl ? { defaultActionsUrl: defaultUrl } : {}),
        ...(token ? { token } : {}),
        ...(serverUrl ? { serverUrl } : {}),
        ...(opts.insecure ? { insecure: true } : {}),
        ...(opts.maxCacheBytes ? { maxCacheBytes: opts.maxCacheBytes } : {}),
      });
      rt.preparedForRelease.push(prepared);
      if (!isLocal) rt.actions.set(uses, prepared);
      return prepared;
    },
  };
}

function strOf(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}
