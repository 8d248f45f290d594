import type { RepoInfo } from "./git-info.js";

export interface RunInfo {
  repo: RepoInfo;
  eventName: string;
  event: Record<string, unknown>;
  runId: number;
  runNumber: number;
  /** Task token (40 hex), also given as GITHUB_TOKEN/GITEA_TOKEN/FORGEJO_TOKEN. */
  token: string;
  runtimeToken: string;
  defaultActionsUrl: string;
}

/** Ref facts derived the way Forgejo does: from the event when it has them, else from git. */
export function refFacts(run: RunInfo): { ref: string; sha: string; headRef: string; baseRef: string } {
  const ev = run.event;
  const pr = obj(ev.pull_request);
  if (Object.keys(pr).length > 0 && run.eventName.startsWith("pull_request")) {
    const head = obj(pr.head);
    const base = obj(pr.base);
    const target = run.eventName === "pull_request_target";
    return {
      ref: target ? `refs/heads/${str(base.ref)}` : `refs/pull/${str(pr.number)}/head`,
      sha: target ? str(base.sha) || run.repo.sha : str(head.sha) || run.repo.sha,
      headRef: str(head.ref),
      baseRef: str(base.ref),
    };
  }
  return { ref: str(ev.ref) || run.repo.ref, sha: str(ev.after) || str(ev.sha) || run.repo.sha, headRef: "", baseRef: "" };
}

/**
 * The task context Forgejo would send for this job (forgejo-protocol.md §3.6),
 * except `workflow`: GitHub's value (the workflow's `name:`, else the file's
 * path in the repository) where Forgejo sends the bare file name.
 */
export function buildTaskContext(
  run: RunInfo,
  workflowFile: string,
  workflowDir: string,
  jobId: string,
  workflowName?: string,
): Record<string, unknown> {
  const { ref, sha, headRef, baseRef } = refFacts(run);
  const refName = ref.replace(/^refs\/(heads|tags)\//, "");
  const refType = ref.startsWith("refs/tags/") ? "tag" : ref.startsWith("refs/heads/") ? "branch" : "";
  const server = run.repo.serverUrl.endsWith("/") ? run.repo.serverUrl : run.repo.serverUrl + "/";
  const empty = [
    "event_path", "action", "action_path", "action_ref", "action_repository", "action_status", "graphql_url",
    "workspace", "env", "path", "triggering_actor", "retention_days", "job_name", "runner_perflog", "runner_tracking_id",
  ];
  const ctx: Record<string, unknown> = Object.fromEntries(empty.map((k) => [k, ""]));
  Object.assign(ctx, {
    event: run.event,
    event_name: run.eventName,
    actor: run.repo.actor,
    actor_id: "0",
    repository: run.repo.repository,
    repository_owner: run.repo.owner,
    repository_owner_id: "0",
    repository_id: "0",
    repositoryUrl: `${server}${run.repo.repository}`,
    ref,
    ref_name: refName,
    ref_type: refType,
    ref_protected: false,
    sha,
    head_ref: headRef,
    base_ref: baseRef,
    run_id: String(run.runId),
    run_number: String(run.runNumber),
    run_attempt: "1",
    job: jobId,
    workflow: workflowName ?? `${workflowDir}/${workflowFile}`,
    workflow_ref: `${run.repo.repository}/${workflowDir}/${workflowFile}@${ref}`,
    server_url: server,
    api_url: `${server}api/v1`,
    secret_source: "Actions",
    token: run.token,
    gitea_default_actions_url: run.defaultActionsUrl,
    forgejo_default_actions_url: run.defaultActionsUrl,
    gitea_runtime_token: run.runtimeToken,
    forgejo_runtime_token: run.runtimeToken,
    forgejo_server_version: "exec",
  });
  return ctx;
}

/** A plausible event payload when `-e` is not given. */
export function defaultEvent(eventName: string, repo: RepoInfo, inputs: Record<string, string>): Record<string, unknown> {
  const repository = {
    id: 0,
    name: repo.name,
    full_name: repo.repository,
    owner: { login: repo.owner, username: repo.owner },
    default_branch: repo.defaultBranch,
    html_url: `${repo.serverUrl}${repo.repository}`,
    clone_url: `${repo.serverUrl}${repo.repository}.git`,
  };
  const sender = { login: repo.actor, username: repo.actor };
  const ev: Record<string, unknown> = { repository, sender };
  if (eventName === "push") {
    Object.assign(ev, { ref: repo.ref, before: "0".repeat(40), after: repo.sha, pusher: sender, commits: [] });
  } else if (eventName === "workflow_dispatch") {
    Object.assign(ev, { ref: repo.ref, inputs });
  }
  return ev;
}

function obj(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function str(v: unknown): string {
  return v === undefined || v === null ? "" : String(v);
}
