// The expression contexts of a job, built once, plus the per-step parts
// (env, steps, job status, action fields of github).

import type { JobModel } from "../workflow/model.js";
import type { JobDirs } from "../host/sandbox.js";
import type { JobRequest } from "./job-request.js";
import { runnerArch } from "./job-env.js";

export interface BaseContexts {
  github: Record<string, unknown>;
  vars: Record<string, string>;
  secrets: Record<string, string>;
  needs: Record<string, { result: string; outputs: Record<string, string> }>;
  matrix: Record<string, unknown>;
  strategy: Record<string, unknown>;
  runner: Record<string, unknown>;
  inputs: Record<string, unknown>;
}

export function buildGithubContext(req: JobRequest, dirs: JobDirs, eventPath: string, job: JobModel): Record<string, unknown> {
  const g: Record<string, unknown> = { ...req.context };
  g["event"] = isObject(req.context["event"]) ? req.context["event"] : {};
  g["workspace"] = dirs.workspace;
  g["event_path"] = eventPath;
  g["action"] = "";
  g["action_path"] = "";
  g["action_ref"] = "";
  g["action_repository"] = "";
  g["action_status"] = "";
  if (g["job"] === undefined || g["job"] === "") g["job"] = job.id;
  if (g["token"] === undefined) g["token"] = req.secrets["GITHUB_TOKEN"] ?? "";
  return g;
}

export function buildBaseContexts(
  req: JobRequest,
  dirs: JobDirs,
  github: Record<string, unknown>,
  job: JobModel,
  matrix: Record<string, unknown> | undefined,
  debug: boolean,
): BaseContexts {
  const secrets: Record<string, string> = { ...req.secrets };
  const token = typeof github["token"] === "string" ? (github["token"] as string) : "";
  if (token !== "" && secrets["GITHUB_TOKEN"] === undefined) secrets["GITHUB_TOKEN"] = token;
  const needs: BaseContexts["needs"] = {};
  for (const [id, n] of Object.entries(req.needs)) needs[id] = { result: n.result, outputs: { ...n.outputs } };
  const runner: Record<string, unknown> = {
    name: req.runnerName ?? "native-runner",
    os: "Linux",
    arch: runnerArch(),
    temp: dirs.temp,
    tool_cache: dirs.toolCache,
    workspace: dirs.root,
    environment: "self-hosted",
  };
  if (debug) runner["debug"] = "1";
  // A Forgejo payload has the expanded matrix but not the instance's index; exec passes the whole context.
  const strategy: Record<string, unknown> = req.strategy
    ? { ...req.strategy }
    : {
        "fail-fast": job.strategy?.failFast ?? true,
        "job-index": 0,
        "job-total": 1,
        "max-parallel": job.strategy?.maxParallel ?? 1,
      };
  return {
    github,
    vars: { ...req.vars },
    secrets,
    needs,
    matrix: matrix ?? {},
    strategy,
    runner,
    inputs: { ...(req.inputs ?? {}) },
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
