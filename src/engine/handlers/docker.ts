// Docker actions (`uses: docker://image`, `runs.using: docker`): the process
// runs in a container of the action's image, next to the job's own, with the
// job's directories at the same paths so inputs, env and file commands work
// as for any step. Only sandboxes that run containers can do this.
//
// `pre-entrypoint` runs at set-up with the other pre steps when the action
// was fetched then (a top-level remote action); a local action, or one inside
// a composite, is only known when its step runs, so its pre-entrypoint runs
// right before the main one. `post-entrypoint` is a post step: at job end, in
// reverse order, with the same image, env and inputs. Both honour
// pre-if/post-if (default always()).

import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { DockerRuns } from "../../actions/types.js";
import { evaluateCondition, withHashFiles } from "../../expressions/index.js";
import { inputEnv, resolveInputs } from "../action-inputs.js";
import { writeActionHeader } from "./action-header.js";
import type { ActionInstance, JobRuntime, PostStep } from "../job-runtime.js";
import { runStepProcess } from "../step-process.js";
import { actionProcessEnv, actionProcessResult } from "./action-process.js";
import { nodeCrypto, splitArgs } from "../../host/index.js";
import type { HandlerResult, StepInvocation } from "./types.js";
import type { ActionImage } from "../../host/sandbox.js";

export async function runDockerAction(inv: StepInvocation, instance: ActionInstance, runs: DockerRuns): Promise<HandlerResult> {
  const { rt } = inv;
  if (!rt.sandbox.runsActionImages) {
    rt.log.error(`${instance.uses}: docker actions need a container job (a docker:// label or container:); this job runs on the host.`);
    return { outcome: "failure", outputs: {} };
  }
  const p = instance.prepared;
  const withRaw = { ...(inv.step.with ?? {}) };
  const argsOverride = withRaw.args;
  const entrypointOverride = withRaw.entrypoint;
  delete withRaw.args;
  delete withRaw.entrypoint;
  const inputs = resolveInputs(p.metadata, withRaw, { contexts: inv.contexts, workspace: rt.sandbox.dirs.workspace }, rt.log);
  const env = { ...inv.env, ...(runs.env ?? {}) };
  writeActionHeader(rt, instance.uses, inputs, inv.step.env, inv.env);
  const args =
    argsOverride !== undefined && argsOverride !== null
      ? splitArgs(String(argsOverride))
      : (runs.args ?? []).map((a) => a.replace(/\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}/g, (_m, k: string) => inputs[k] ?? ""));
  const image = actionImage(instance, runs);
  const entrypoint = entrypointOverride !== undefined && entrypointOverride !== null ? String(entrypointOverride) : runs.entrypoint;
  const inputVars = inputEnv(inputs);

  if (runs.preEntrypoint && !instance.preRan) {
    instance.preRan = true;
    const ctx = {
      contexts: { ...inv.contexts, inputs },
      status: { failed: inv.scope.failed, cancelled: rt.cancelled() },
      workspace: rt.sandbox.dirs.workspace,
    };
    if (await withHashFiles(() => evaluateCondition(runs.preIf ?? "always()", ctx), inv.signal)) {
      const pre = await runEntrypoint(rt, instance, image, runs.preEntrypoint, [], env, inputVars, inv.signal);
      if (pre.outcome !== "success") return pre;
    }
  }
  const main = await runEntrypoint(rt, instance, image, entrypoint, args, env, inputVars, inv.signal);
  if (runs.postEntrypoint) {
    rt.posts.push({
      name: `Post ${inv.name.replace(/^Run /, "")}`,
      condition: runs.postIf ?? "always()",
      instance,
      step: inv.step,
      env,
      inputEnv: inputVars,
      script: runs.postEntrypoint,
      kind: "docker",
      image,
    });
  }
  return main;
}

/** A top-level remote docker action's pre-entrypoint, run at set-up. */
export async function runDockerPre(
  rt: JobRuntime,
  instance: ActionInstance,
  runs: DockerRuns,
  env: Record<string, string>,
  inputs: Record<string, string>,
  signal: AbortSignal,
): Promise<HandlerResult> {
  instance.preRan = true;
  if (!rt.sandbox.runsActionImages || !runs.preEntrypoint) return { outcome: "success", outputs: {} };
  return runEntrypoint(rt, instance, actionImage(instance, runs), runs.preEntrypoint, [], { ...env, ...(runs.env ?? {}) }, inputEnv(inputs), signal);
}

export function runDockerPost(rt: JobRuntime, post: PostStep, signal: AbortSignal): Promise<HandlerResult> {
  return runEntrypoint(rt, post.instance, post.image ?? {}, post.script, [], post.env, post.inputEnv, signal);
}

async function runEntrypoint(
  rt: JobRuntime,
  instance: ActionInstance,
  image: ActionImage,
  entrypoint: string | undefined,
  args: string[],
  env: Record<string, string>,
  inputVars: Record<string, string>,
  signal: AbortSignal,
): Promise<HandlerResult> {
  const res = await runStepProcess(
    rt,
    {
      file: entrypoint ?? "",
      args,
      cwd: rt.sandbox.dirs.workspace,
      env,
      extraEnv: actionProcessEnv(instance, inputVars),
      image: { ...image, ...(entrypoint ? { entrypoint } : {}) },
    },
    signal,
  );
  return actionProcessResult(rt, instance, res, signal);
}

function actionImage(instance: ActionInstance, runs: DockerRuns): ActionImage {
  const p = instance.prepared;
  if (runs.image.startsWith("docker://")) return { image: runs.image.slice("docker://".length) };
  return {
    build: {
      context: p.dir,
      dockerfile: join(p.dir, runs.image),
      // Built once per action and ref (or content, for local actions).
      tag: `native-runner-action-${nodeCrypto().createHash("sha256").update(p.ref ? `${p.repository ?? p.dir}@${p.ref}` : dockerfileText(join(p.dir, runs.image))).digest("hex").slice(0, 16)}:latest`,
    },
  };
}

/** A local action has no ref: its image is keyed by the Dockerfile's text. */
function dockerfileText(file: string): string {
  try {
    return `${file}\n${readFileSync(file, "utf8")}`;
  } catch {
    return file;
  }
}
