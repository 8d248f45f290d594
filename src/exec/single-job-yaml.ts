import { stringify } from "yaml";
import type { MatrixCombo } from "./matrix.js";

// The job keys Forgejo's job parser keeps, in its order. `needs` is erased
// (the task's `needs` map replaces it). Job-level `continue-on-error` is not
// in Forgejo's list either: the orchestrator applies it, as the server would.
const JOB_KEYS = [
  "name", "runs-on", "env", "if", "steps", "timeout-minutes", "services", "strategy",
  "container", "defaults", "outputs", "uses", "with", "secrets", "concurrency",
];

/**
 * The single-job workflow Forgejo would send for one job (instance): matrix
 * expanded to one-element lists, the display name filled in, `needs` erased.
 */
export function singleJobYaml(
  rawWorkflow: Record<string, unknown>,
  jobId: string,
  displayName: string,
  combo: MatrixCombo | undefined,
): string {
  const rawJob = (rawWorkflow.jobs as Record<string, Record<string, unknown>>)[jobId] ?? {};
  const job: Record<string, unknown> = {};
  for (const key of JOB_KEYS) {
    if (key === "name") {
      job.name = displayName;
      continue;
    }
    if (!(key in rawJob)) continue;
    if (key === "strategy" && combo) {
      const strategy = { ...(rawJob.strategy as Record<string, unknown>) };
      strategy.matrix = Object.fromEntries(Object.entries(combo).map(([k, v]) => [k, [v]]));
      job.strategy = strategy;
      continue;
    }
    job[key] = rawJob[key];
  }
  const out: Record<string, unknown> = {};
  if (rawWorkflow.name !== undefined) out.name = rawWorkflow.name;
  out.on = rawWorkflow.on;
  if (rawWorkflow.env !== undefined) out.env = rawWorkflow.env;
  out.jobs = { [jobId]: job };
  if (rawWorkflow.defaults !== undefined) out.defaults = rawWorkflow.defaults;
  return stringify(out, { indent: 4, lineWidth: 0 });
}
