import type { Emit, Conclusion } from "./events.js";
import type { HostBackend } from "../host/sandbox.js";

/** Result of a needed job, as the task's `needs` map gives it. */
export interface NeedResult {
  result: Conclusion;
  outputs: Record<string, string>;
}

/**
 * Everything needed to run one job. The daemon builds it from a Forgejo task
 * (payload YAML with exactly one job, matrix already expanded, `needs:`
 * erased); exec builds it from its own orchestrator.
 */
export interface JobRequest {
  /** Stable id for directories/logs (task id in the daemon). */
  jobKey: string;
  /** Single-job workflow YAML (Forgejo's workflow_payload). */
  workflowYaml: string;
  /** Name of the workflow file, for error positions. */
  workflowFile?: string;
  /** The github context as the task gives it (Task.context). */
  context: Record<string, unknown>;
  secrets: Record<string, string>;
  vars: Record<string, string>;
  needs: Record<string, NeedResult>;
  /**
   * A job further up the needs chain failed (exec knows the whole graph; a
   * Forgejo task carries only its direct needs). failure() in the job's if: sees it.
   */
  ancestorsFailed?: boolean;
  /** workflow_dispatch / workflow_call inputs, already typed. */
  inputs?: Record<string, unknown>;
  /** Extra env from runner config (runner.envs), lowest precedence. */
  runnerEnv?: Record<string, string>;
  /** e.g. ACTIONS_CACHE_URL, ACTIONS_RUNTIME_URL ... set by the daemon. */
  extraEnv?: Record<string, string>;
  /** Extra values to mask (tokens not present in secrets). */
  extraMasks?: string[];
  /** Runner name/os/arch for the runner context. */
  runnerName?: string;
  /** Base URL for `uses: owner/repo@ref` (forgejo_default_actions_url). */
  defaultActionsUrl?: string;
  /** Existing directory to use as the workspace instead of a fresh one (exec -C). */
  workspaceDir?: string;
  /**
   * The `strategy` context as the orchestrator knows it (exec only; a Forgejo
   * payload carries the expanded matrix but not the instance's index/total).
   */
  strategy?: { "fail-fast": boolean; "max-parallel": number; "job-index": number; "job-total": number };
  /** Node binary for JavaScript actions (config host.node); default: `node` on the job's PATH, else the runner's own node. */
  nodePath?: string;
  /** Shared fetched-action cache directory (config actions.cache_dir); default: a directory inside the job root. */
  actionCacheDir?: string;
  /** Use only the action cache, no network (actions.cache_offline). */
  actionCacheOffline?: boolean;
  /** Size bound of the action cache in bytes (actions.max_cache_size). */
  actionCacheMaxBytes?: number;
  /**
   * exec: the workspace is the user's working copy, so actions/checkout of the
   * repository being run is skipped (and one of another repository into the
   * workspace root refused).
   */
  protectWorkingCopy?: boolean;
  /** Debug logging as if ACTIONS_STEP_DEBUG were set (exec -d). */
  debug?: boolean;
  /** exec --insecure-secrets: secret values are not masked in the log (values added with ::add-mask:: still are). */
  insecureSecrets?: boolean;
  /** Skip TLS verification when cloning actions (runner.insecure). */
  insecure?: boolean;
}

export interface RunJobOptions {
  emit: Emit;
  /** Aborted on cancellation or runner timeout; reason says which. */
  signal: AbortSignal;
  host: HostBackend;
}

export interface JobOutcome {
  result: Conclusion;
  outputs: Record<string, string>;
}
