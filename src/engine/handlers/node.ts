// JavaScript actions (node12/16/20/24) and Forgejo's `sh` actions: one process
// per stage (pre, main, post), state passed on as STATE_*.

import { join } from "node:path";
import type { NodeRuns, ScriptRuns } from "../../actions/types.js";
import { withHashFiles } from "../../expressions/index.js";
import { inputEnv, resolveInputs } from "../action-inputs.js";
import { writeActionHeader } from "./action-header.js";
import type { ActionInstance, JobRuntime, PostStep } from "../job-runtime.js";
import { runStepProcess } from "../step-process.js";
import { actionProcessEnv, actionProcessResult } from "./action-process.js";
import { runDockerPost } from "./docker.js";
import type { HandlerResult, StepInvocation } from "./types.js";

export async function runScriptAction(inv: StepInvocation, instance: ActionInstance, runs: NodeRuns | ScriptRuns): Promise<HandlerResult> {
  const { rt } = inv;
  const kind = runs.using === "sh" ? "sh" : "node";
  if (runs.using === "node12" || runs.using === "node16") {
    rt.log.warning(
      `${instance.uses}: ${runs.using} is no longer supported; running it with the node available on this runner (${rt.nodePath}).`,
    );
  }
  const ctx = { contexts: inv.contexts, workspace: rt.sandbox.dirs.workspace };
  const inputs = await withHashFiles(() => resolveInputs(instance.prepared.metadata, inv.step.with ?? {}, ctx, rt.log), inv.signal);
  const inputs_ = inputEnv(inputs);
  const runsEnv = runs.env ?? {};
  const env = { ...inv.env, ...runsEnv };
  writeActionHeader(rt, instance.uses, inputs, inv.step.env, inv.env);
  const result = await runActionProcess(rt, instance, kind, runs.main, env, inputs_, inv.signal);
  if (runs.post) {
    rt.posts.push({
      name: `Post ${inv.name.replace(/^Run /, "")}`,
      condition: runs.postIf ?? "always()",
      instance,
      step: inv.step,
      env,
      inputEnv: inputs_,
      script: runs.post,
      kind,
    });
  }
  return result;
}

export async function runActionProcess(
  rt: JobRuntime,
  instance: ActionInstance,
  kind: "node" | "sh",
  script: string,
  env: Record<string, string>,
  inputs: Record<string, string>,
  signal: AbortSignal,
): Promise<HandlerResult> {
  const p = instance.prepared;
  const file = kind === "node" ? rt.nodePath : "sh";
  const args = kind === "node" ? [join(p.dir, script)] : ["-e", join(p.dir, script)];
  const extraEnv = actionProcessEnv(instance, inputs);
  const res = await runStepProcess(rt, { file, args, cwd: rt.sandbox.dirs.workspace, env, extraEnv }, signal);
  return actionProcessResult(rt, instance, res, signal);
}

export async function runPostStep(rt: JobRuntime, post: PostStep, signal: AbortSignal): Promise<HandlerResult> {
  if (post.kind === "docker") return runDockerPost(rt, post, signal);
  return runActionProcess(rt, post.instance, post.kind, post.script, post.env, post.inputEnv, signal);
}
