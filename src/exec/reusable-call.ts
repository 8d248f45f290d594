// The parts of a reusable-workflow call (`jobs.<id>.uses: ./x.yml`) that do
// not depend on scheduling: what the called jobs get, and what the call
// returns to its dependents.

import { evaluateValue, toExpressionString } from "../expressions/index.js";
import type { JobModel } from "../workflow/model.js";
import { typeCallInputs } from "../workflow/index.js";
import type { LoadedWorkflow } from "./workflow-files.js";

const TOKEN_SECRETS = ["GITHUB_TOKEN", "GITEA_TOKEN", "FORGEJO_TOKEN"];

/**
 * Typed inputs from `with:` and the secrets from `secrets:` (`inherit`, or a
 * mapping evaluated with the caller's secrets; the task tokens always pass).
 * Throws with a GitHub-like message when an input or a required secret is wrong.
 */
export function prepareCall(
  job: JobModel,
  callee: LoadedWorkflow,
  contexts: Record<string, unknown>,
  callerSecrets: Record<string, string>,
): { inputs: Record<string, unknown>; secrets: Record<string, string> } {
  const withValues = evaluateValue(job.with ?? {}, { contexts }) as Record<string, unknown>;
  const inputs = typeCallInputs(callee.model.callInputs, withValues);
  let secrets: Record<string, string> = {};
  for (const k of TOKEN_SECRETS) if (callerSecrets[k] !== undefined) secrets[k] = callerSecrets[k]!;
  if (job.secrets === "inherit") {
    secrets = { ...callerSecrets };
  } else if (job.secrets) {
    const evaluated = evaluateValue(job.secrets, { contexts: { ...contexts, secrets: callerSecrets } }) as Record<string, unknown>;
    for (const [k, v] of Object.entries(evaluated)) secrets[k] = toExpressionString(v);
  }
  for (const [name, spec] of Object.entries(callee.model.callSecrets ?? {})) {
    if (spec.required && !(name in secrets)) throw new Error(`Secret ${name} is required, but not provided while calling.`);
  }
  return { inputs, secrets };
}

/** `on.workflow_call.outputs.<name>.value`, evaluated over the called jobs' results. */
export function callOutputs(
  callee: LoadedWorkflow,
  contexts: { github: unknown; inputs: Record<string, unknown>; vars: Record<string, string>; jobs: Record<string, unknown> },
): Record<string, string> {
  const outputs: Record<string, string> = {};
  for (const [name, spec] of Object.entries(callee.model.callOutputs)) {
    try {
      outputs[name] = toExpressionString(evaluateValue(spec.value, { contexts }));
    } catch (err) {
      throw new Error(`Error when evaluating output '${name}': ${(err as Error).message}`, { cause: err });
    }
  }
  return outputs;
}
