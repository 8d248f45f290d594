import type { JobModel, ParseResult, WorkflowModel } from "./model.js";
import { keyPosition, parseWorkflow } from "./parse-workflow.js";
import { unquoteGoScalars } from "./payload-scalars.js";

/**
 * Parses a Forgejo task payload: a single-job workflow written by go-yaml
 * (matrix already expanded to one-element lists, `needs:` erased, some
 * numbers and booleans quoted). Anything but exactly one job is an error.
 */
export function parseTaskPayload(
  yamlText: string,
  fileName = "workflow.yml",
): ParseResult<{ workflow: WorkflowModel; job: JobModel }> {
  const parsed = parseWorkflow(fileName, unquoteGoScalars(yamlText));
  if (!parsed.value) return { errors: parsed.errors };
  const jobs = parsed.value.jobs;
  if (jobs.length !== 1) {
    return {
      errors: [
        {
          file: fileName,
          ...keyPosition(yamlText, "jobs"),
          message: `The task payload must hold exactly one job, found ${jobs.length}${jobs.length ? ` (${jobs.map((j) => j.id).join(", ")})` : ""}`,
        },
      ],
    };
  }
  return { value: { workflow: parsed.value, job: jobs[0]! }, errors: [] };
}

/**
 * The matrix values of an expanded payload job: every `strategy.matrix` key
 * holds a one-element list. Undefined when the job has no matrix.
 */
export function payloadMatrix(job: JobModel): Record<string, unknown> | undefined {
  const m = job.strategy?.matrix;
  if (m === null || typeof m !== "object" || Array.isArray(m)) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
    if (k === "include" || k === "exclude") continue;
    out[k] = Array.isArray(v) ? v[0] : v;
  }
  return out;
}
