import type { StepModel } from "../../workflow/model.js";
import type { JobRuntime, Scope } from "../job-runtime.js";

/** Everything a handler needs to run one step. */
export interface StepInvocation {
  rt: JobRuntime;
  scope: Scope;
  step: StepModel;
  /** The step's id (explicit or generated). */
  id: string;
  name: string;
  /** Contexts for expressions inside the step (github, env, steps, ...). */
  contexts: Record<string, unknown>;
  /** The step's env context, its own `env:` included. */
  env: Record<string, string>;
  signal: AbortSignal;
  /** Runs the steps of a composite action in their own scope. */
  runSteps(steps: StepModel[], scope: Scope): Promise<void>;
}

export interface HandlerResult {
  outcome: "success" | "failure";
  outputs: Record<string, string>;
}
