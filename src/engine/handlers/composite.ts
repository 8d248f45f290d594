// Composite actions: the inner steps run in their own scope (own `steps`
// context and status functions, no job `defaults.run`), then the action's
// outputs are mapped from the inner steps, also when one of them failed.

import type { CompositeRuns } from "../../actions/types.js";
import { interpolate, withHashFiles } from "../../expressions/index.js";
import { resolveInputs } from "../action-inputs.js";
import { writeActionHeader } from "./action-header.js";
import type { ActionInstance, Scope } from "../job-runtime.js";
import type { HandlerResult, StepInvocation } from "./types.js";

/** GitHub stops nesting at this depth. */
const MAX_DEPTH = 9;

export async function runCompositeAction(inv: StepInvocation, instance: ActionInstance, runs: CompositeRuns): Promise<HandlerResult> {
  const { rt } = inv;
  if (inv.scope.depth >= MAX_DEPTH) {
    rt.log.error(`Composite action nesting is deeper than ${MAX_DEPTH} levels: ${instance.uses}`);
    return { outcome: "failure", outputs: {} };
  }
  const ctx = { contexts: inv.contexts, workspace: rt.sandbox.dirs.workspace };
  const inputs = await withHashFiles(() => resolveInputs(instance.prepared.metadata, inv.step.with ?? {}, ctx, rt.log), inv.signal);
  writeActionHeader(rt, instance.uses, inputs, inv.step.env, inv.env);
  const before = { ...rt.globalEnv };
  const outerEnv = inv.env;
  const scope: Scope = {
    kind: "composite",
    steps: {},
    failed: false,
    // GITHUB_ENV written by inner steps is seen by the next inner steps.
    env: () => {
      const out = { ...outerEnv };
      for (const [k, v] of Object.entries(rt.globalEnv)) if (before[k] !== v) out[k] = v;
      return out;
    },
    action: instance,
    inputs,
    depth: inv.scope.depth + 1,
    signal: inv.signal,
    usedIds: new Set(),
  };
  await inv.runSteps(runs.steps, scope);

  const outputs: Record<string, string> = {};
  const outCtx = {
    contexts: { ...inv.contexts, steps: scope.steps, inputs, env: scope.env() },
    workspace: rt.sandbox.dirs.workspace,
  };
  for (const [name, spec] of Object.entries(instance.prepared.metadata.outputs)) {
    if (spec.value === undefined) continue;
    try {
      outputs[name] = await withHashFiles(() => interpolate(spec.value!, outCtx), inv.signal);
    } catch (e) {
      rt.log.error(`Output '${name}' of ${instance.uses}: ${(e as Error).message}`);
    }
  }
  return { outcome: scope.failed ? "failure" : "success", outputs };
}
