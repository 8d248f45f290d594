// State shared by the steps of one job, and the scope a step runs in (the
// job's own steps or a composite action's steps).

import type { Conclusion } from "./events.js";
import type { JobRequest } from "./job-request.js";
import type { JobLog } from "./job-log.js";
import type { ActionImage, JobSandbox } from "../host/sandbox.js";
import type { RunDefaults, StepModel } from "../workflow/model.js";
import type { PreparedAction } from "../actions/types.js";
import type { BaseContexts } from "./contexts.js";

export interface StepRecord {
  outputs: Record<string, string>;
  outcome: Conclusion;
  conclusion: Conclusion;
}

export interface Scope {
  kind: "job" | "composite";
  /** The `steps` context of this scope. */
  steps: Record<string, StepRecord>;
  /** An earlier step of this scope failed. */
  failed: boolean;
  /** `defaults.run` (job scope only; composites ignore the job's defaults). */
  defaults?: RunDefaults;
  /** The env context before a step's own `env:`. */
  env(): Record<string, string>;
  /** Composite: the action being run (github.action_path, GITHUB_ACTION_PATH). */
  action?: ActionInstance;
  inputs?: Record<string, unknown>;
  depth: number;
  /** Composite: the outer step's signal (its timeout stops the inner steps too). */
  signal?: AbortSignal;
  /** Generated step ids already used in this scope. */
  usedIds: Set<string>;
}

/** One use of an action in a job: state saved by its pre/main/post goes to STATE_*. */
export interface ActionInstance {
  prepared: PreparedAction;
  state: Record<string, string>;
  /** The step id (GITHUB_ACTION). */
  stepId: string;
  uses: string;
  /** A docker action's pre-entrypoint already ran (at set-up). */
  preRan?: boolean;
}

export interface PostStep {
  name: string;
  /** Raw condition (default always()). */
  condition: string;
  instance: ActionInstance;
  step: StepModel;
  /** The env context and inputs of the main step, reused by the post step. */
  env: Record<string, string>;
  inputEnv: Record<string, string>;
  /** Relative path of the script inside the action dir; for docker, the post-entrypoint. */
  script: string;
  kind: "node" | "sh" | "docker";
  /** docker: the action's image (the one its main step ran). */
  image?: ActionImage;
}

export interface JobRuntime {
  req: JobRequest;
  log: JobLog;
  sandbox: JobSandbox;
  base: BaseContexts;
  /** Runner-set variables (GITHUB_*, RUNNER_*, ...). */
  runnerVars: Record<string, string>;
  /** GITHUB_ENV additions, visible to later steps. */
  globalEnv: Record<string, string>;
  /** GITHUB_PATH additions, in order of addition (the last one comes first in PATH). */
  prependPath: string[];
  debug: boolean;
  summaries: string[];
  posts: PostStep[];
  /** Prepared actions by `uses` text, fetched at set-up. */
  actions: Map<string, PreparedAction>;
  /** Job-wide cancellation (cancel or job timeout). */
  jobSignal: AbortSignal;
  /** True once the job was cancelled (or timed out). */
  cancelled(): boolean;
  /** Signal for steps that run after cancellation and for post steps; its clock starts at the first call. */
  cleanupSignal(): AbortSignal;
  nodePath: string;
  /** True when the job's timeout-minutes ran out (the job fails rather than being cancelled). */
  timedOut(): boolean;
  /** The job's own scope (job.status, post-step conditions). */
  jobScope: Scope;
  /** Actions of the job's top-level steps prepared at set-up, by step index (pre/main/post share state). */
  instances: Map<number, ActionInstance>;
  /** Every prepared action, released when the job ends. */
  preparedForRelease: PreparedAction[];
}
