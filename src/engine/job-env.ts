// Variables the runner sets for every step of a job: GITHUB_* with their
// FORGEJO_* twins, RUNNER_*, CI, and the ACTIONS_* runtime variables.

import type { JobRequest } from "./job-request.js";
import type { JobDirs } from "../host/sandbox.js";
import { VERSION } from "../version.js";

/** Names set with both prefixes, and the github context key each comes from. */
const PAIRED: Array<[string, string]> = [
  ["WORKFLOW", "workflow"],
  ["RUN_ATTEMPT", "run_attempt"],
  ["RUN_ID", "run_id"],
  ["RUN_NUMBER", "run_number"],
  ["ACTOR", "actor"],
  ["REPOSITORY", "repository"],
  ["EVENT_NAME", "event_name"],
  ["SHA", "sha"],
  ["REF", "ref"],
  ["REF_NAME", "ref_name"],
  ["REF_TYPE", "ref_type"],
  ["JOB", "job"],
  ["REPOSITORY_OWNER", "repository_owner"],
  ["RETENTION_DAYS", "retention_days"],
  ["BASE_REF", "base_ref"],
  ["HEAD_REF", "head_ref"],
  ["API_URL", "api_url"],
  ["WORKFLOW_REF", "workflow_ref"],
];

export function runnerArch(): string {
  switch (process.arch) {
    case "x64":
      return "X64";
    case "arm64":
      return "ARM64";
    case "ia32":
      return "X86";
    case "arm":
      return "ARM";
    default:
      return process.arch.toUpperCase();
  }
}

export function str(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

export function stripSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

export interface JobEnvInput {
  req: JobRequest;
  /** The github context (already completed with workspace etc.). */
  github: Record<string, unknown>;
  dirs: JobDirs;
  eventPath: string;
  debug: boolean;
}

export function runnerVariables({ req, github, dirs, eventPath, debug }: JobEnvInput): Record<string, string> {
  const env: Record<string, string> = {};
  const pair = (name: string, value: string) => {
    env[`GITHUB_${name}`] = value;
    env[`FORGEJO_${name}`] = value;
  };
  for (const [name, key] of PAIRED) pair(name, str(github[key]));
  const serverUrl = stripSlash(str(github["server_url"]));
  pair("SERVER_URL", serverUrl);
  pair("ACTIONS", "true");
  pair("EVENT_PATH", eventPath);
  pair("WORKSPACE", dirs.workspace);
  env.GITHUB_ACTOR_ID = str(github["actor_id"]);
  env.GITHUB_REPOSITORY_ID = str(github["repository_id"]);
  env.GITHUB_REPOSITORY_OWNER_ID = str(github["repository_owner_id"]);
  env.GITHUB_TRIGGERING_ACTOR = str(github["triggering_actor"]) || str(github["actor"]);
  env.GITHUB_GRAPHQL_URL = str(github["graphql_url"]);
  env.CI = "true";
  env.FORGEJO_ACTIONS = "true";
  env.GITEA_ACTIONS = "true";
  env.FORGEJO_ACTIONS_RUNNER_VERSION = VERSION;
  env.GITEA_ACTIONS_RUNNER_VERSION = VERSION;
  env.RUNNER_OS = "Linux";
  env.RUNNER_ARCH = runnerArch();
  env.RUNNER_NAME = req.runnerName ?? "native-runner";
  env.RUNNER_TEMP = dirs.temp;
  // runner.envs may point the tool cache elsewhere (forgejo-runner honours it).
  env.RUNNER_TOOL_CACHE = req.runnerEnv?.["RUNNER_TOOL_CACHE"] ?? dirs.toolCache;
  env.RUNNER_ENVIRONMENT = "self-hosted";
  env.RUNNER_WORKSPACE = dirs.root;
  if (debug) env.RUNNER_DEBUG = "1";
  env.ImageOS = "linux";

  // Runtime variables: what the daemon passed, else derived from the task context.
  const runtimeToken = str(github["forgejo_runtime_token"]) || str(github["gitea_runtime_token"]) || str(github["token"]);
  if (serverUrl !== "") {
    env.ACTIONS_RUNTIME_URL = `${serverUrl}/api/actions_pipeline/`;
    env.ACTIONS_RESULTS_URL = serverUrl;
  }
  if (runtimeToken !== "") env.ACTIONS_RUNTIME_TOKEN = runtimeToken;
  const idToken = str(github["forgejo_actions_id_token_request_token"]);
  const idUrl = str(github["forgejo_actions_id_token_request_url"]);
  if (idToken !== "") env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = idToken;
  if (idUrl !== "") env.ACTIONS_ID_TOKEN_REQUEST_URL = idUrl;
  Object.assign(env, req.extraEnv ?? {});
  return env;
}

/** The values every job masks besides its secrets: tokens from the task. */
export function tokenMasks(req: JobRequest): string[] {
  const c = req.context;
  const out = [
    str(c["token"]),
    str(c["gitea_runtime_token"]),
    str(c["forgejo_runtime_token"]),
    str(c["forgejo_actions_id_token_request_token"]),
    req.extraEnv?.["ACTIONS_RUNTIME_TOKEN"] ?? "",
    req.extraEnv?.["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] ?? "",
  ];
  return out.filter((v) => v !== "");
}
