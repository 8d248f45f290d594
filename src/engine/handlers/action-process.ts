// What every action process (a JavaScript or `sh` action's stage, a docker
// action's entrypoint) gets and how its end is judged, in one place.

import type { ActionInstance, JobRuntime } from "../job-runtime.js";
import { applyEffects, type StepProcessResult } from "../step-process.js";
import type { HandlerResult } from "./types.js";

/** The action's own variables (GITHUB_ and FORGEJO_ names), its inputs and its saved state as STATE_*. */
export function actionProcessEnv(instance: ActionInstance, inputs: Record<string, string>): Record<string, string> {
  const p = instance.prepared;
  const env: Record<string, string> = {
    ...inputs,
    GITHUB_ACTION: instance.stepId,
    FORGEJO_ACTION: instance.stepId,
    GITHUB_ACTION_PATH: p.dir,
    FORGEJO_ACTION_PATH: p.dir,
    GITHUB_ACTION_REPOSITORY: p.repository ?? "",
    FORGEJO_ACTION_REPOSITORY: p.repository ?? "",
    GITHUB_ACTION_REF: p.ref ?? "",
    FORGEJO_ACTION_REF: p.ref ?? "",
  };
  for (const [k, v] of Object.entries(instance.state)) env[`STATE_${k}`] = v;
  return env;
}

/** Applies the process's file commands and turns its exit into the step's outcome. */
export function actionProcessResult(rt: JobRuntime, instance: ActionInstance, res: StepProcessResult, signal: AbortSignal): HandlerResult {
  const outputs = applyEffects(rt, res.effects, instance.state);
  if (!res.exit) return { outcome: "failure", outputs };
  if (res.exit.code !== 0 && !signal.aborted) {
    rt.log.error(res.exit.code === null ? `Process was killed by signal ${res.exit.signal ?? "?"}.` : `Process completed with exit code ${res.exit.code}.`);
  }
  return { outcome: res.exit.code === 0 && !res.commandFailed ? "success" : "failure", outputs };
}
