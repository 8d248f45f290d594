// Docker actions (`uses: docker://image`, `runs.using: docker`): the process
// runs in a container of the action's image, next to the job's own, with the
// job's directories at the same paths so inputs, env and file commands work
// as for any step. Only sandboxes that run containers can do this.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { DockerRuns } from "../../actions/types.js";
import { inputEnv, resolveInputs } from "../action-inputs.js";
import { writeActionHeader } from "./action-header.js";
import type { ActionInstance } from "../job-runtime.js";
import { applyEffects, runStepProcess } from "../step-process.js";
import { splitArgs } from "../../host/index.js";
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
  const image: ActionImage = runs.image.startsWith("docker://")
    ? { image: runs.image.slice("docker://".length) }
    : {
        build: {
          context: p.dir,
          dockerfile: join(p.dir, runs.image),
          // Built once per action and ref (or content, for local actions).
          tag: `native-runner-action-${createHash("sha256").update(p.ref ? `${p.repository ?? p.dir}@${p.ref}` : dockerfileText(join(p.dir, runs.image))).digest("hex").slice(0, 16)}:latest`,
        },
      };
  const entrypoint = entrypointOverride !== undefined && entrypointOverride !== null ? String(entrypointOverride) : runs.entrypoint;
  const extra: Record<string, string> = {
    ...inputEnv(inputs),
    GITHUB_ACTION: instance.stepId,
    FORGEJO_ACTION: instance.stepId,
    GITHUB_ACTION_PATH: p.dir,
    GITHUB_ACTION_REPOSITORY: p.repository ?? "",
    GITHUB_ACTION_REF: p.ref ?? "",
  };
  const step = async (ep: string | undefined): Promise<HandlerResult> => {
    const res = await runStepProcess(
      rt,
      { file: ep ?? "", args: ep === entrypoint ? args : [], cwd: rt.sandbox.dirs.workspace, env, extraEnv: extra, image: { ...image, ...(ep ? { entrypoint: ep } : {}) } },
      inv.signal,
    );
    const outputs = applyEffects(rt, res.effects, instance.state);
    if (!res.exit) return { outcome: "failure", outputs };
    if (res.exit.code !== 0 && !inv.signal.aborted) {
      rt.log.error(res.exit.code === null ? `Process was killed by signal ${res.exit.signal ?? "?"}.` : `Process completed with exit code ${res.exit.code}.`);
    }
    return { outcome: res.exit.code === 0 && !res.commandFailed ? "success" : "failure", outputs };
  };
  if (runs.preEntrypoint) {
    const pre = await step(runs.preEntrypoint);
    if (pre.outcome !== "success") return pre;
  }
  const main = await step(entrypoint);
  if (runs.postEntrypoint) {
    const post = await step(runs.postEntrypoint);
    if (post.outcome !== "success") return { ...post, outputs: { ...main.outputs, ...post.outputs } };
  }
  return main;
}

/** A local action has no ref: its image is keyed by the Dockerfile's text. */
function dockerfileText(file: string): string {
  try {
    return `${file}\n${readFileSync(file, "utf8")}`;
  } catch {
    return file;
  }
}
