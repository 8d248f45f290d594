/** Task.context (the github-like context), runtime JWTs and event payloads, as Forgejo builds them. */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { StoredJob } from "./types.js";

export interface ContextSettings {
  /** Root URL with trailing slash. */
  appUrl: string;
  defaultActionsUrl: string;
  actionsUrlKeys: "both" | "gitea" | "none";
  serverVersion: string;
  jwtSecret: string;
  /** `job` as the job's key (default) or as its numeric id. */
  contextJob?: "key" | "id";
}

export interface ScopeIds {
  ownerId: number;
  repoId: number;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

export interface RuntimeClaims {
  exp: number;
  nbf: number;
  scp: string;
  TaskID: number;
  RunID: number;
  JobID: number;
  ac: string;
}

export function signRuntimeToken(secret: string, ids: { taskId: number; runId: number; jobId: number }): string {
  const now = Math.floor(Date.now() / 1000);
  const claims: RuntimeClaims = {
    exp: now + 24 * 3600,
    nbf: now,
    scp: `Actions.Results:${ids.runId}:${ids.jobId}`,
    TaskID: ids.taskId,
    RunID: ids.runId,
    JobID: ids.jobId,
    ac: JSON.stringify([{ Scope: "", Permission: 2 }]),
  };
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify(claims));
  const sig = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

/** Claims of a runtime token signed by this emulator and not expired, else undefined. */
export function verifyRuntimeToken(secret: string, token: string): RuntimeClaims | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  const expected = createHmac("sha256", secret).update(`${parts[0]}.${parts[1]}`).digest();
  const got = Buffer.from(parts[2]!, "base64url");
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) return undefined;
  const claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as RuntimeClaims;
  const now = Date.now() / 1000;
  if (claims.exp < now || claims.nbf > now + 1) return undefined;
  return claims;
}

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}

function refParts(ref: string): { name: string; type: string } {
  if (ref.startsWith("refs/heads/")) return { name: ref.slice("refs/heads/".length), type: "branch" };
  if (ref.startsWith("refs/tags/")) return { name: ref.slice("refs/tags/".length), type: "tag" };
  if (ref.startsWith("refs/pull/")) return { name: ref.slice("refs/pull/".length), type: "pull" };
  return { name: ref, type: "" };
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {});

export function pullRequestOf(job: Pick<StoredJob, "event" | "eventPayload">): Obj | undefined {
  if (!job.event.startsWith("pull_request")) return undefined;
  const pr = job.eventPayload.pull_request;
  return pr && typeof pr === "object" ? (pr as Obj) : undefined;
}

/** A pull request from another repository, not via pull_request_target: secrets are withheld. */
export function isForkPullRequest(job: Pick<StoredJob, "event" | "eventPayload" | "repo">): boolean {
  const pr = pullRequestOf(job);
  if (!pr || job.event === "pull_request_target") return false;
  const headRepo = obj(obj(obj(pr).head).repo).full_name;
  return typeof headRepo === "string" && headRepo !== job.repo;
}

/** Default ref and SHA from the event payload, as Forgejo derives them for the run. */
export function refAndShaFromEvent(event: string, payload: Obj): { ref?: string; sha?: string } {
  const pr = obj(payload.pull_request);
  if (event === "pull_request_target" && payload.pull_request) {
    const base = obj(pr.base);
    return { ref: typeof base.ref === "string" ? `refs/heads/${base.ref}` : undefined, sha: base.sha as string | undefined };
  }
  if (event.startsWith("pull_request") && payload.pull_request) {
    const num = (pr.number ?? payload.number) as number | undefined;
    return { ref: num !== undefined ? `refs/pull/${num}/head` : undefined, sha: obj(pr.head).sha as string | undefined };
  }
  return {
    ref: typeof payload.ref === "string" ? payload.ref : undefined,
    sha: typeof payload.after === "string" ? payload.after : undefined,
  };
}

export function syntheticPushPayload(opts: {
  appUrl: string;
  repo: string;
  ids: ScopeIds;
  actor: string;
  actorId: number;
  ref: string;
  sha: string;
}): Obj {
  const [owner, name] = opts.repo.split("/") as [string, string];
  const user = { id: opts.actorId, login: opts.actor, username: opts.actor };
  return {
    ref: opts.ref,
    before: "0000000000000000000000000000000000000000",
    after: opts.sha,
    compare_url: "",
    commits: [
      {
        id: opts.sha,
        message: "emulated commit\n",
        url: `${opts.appUrl}${opts.repo}/commit/${opts.sha}`,
        author: { name: opts.actor, email: `${opts.actor}@example.invalid`, username: opts.actor },
      },
    ],
    head_commit: { id: opts.sha, message: "emulated commit\n", url: `${opts.appUrl}${opts.repo}/commit/${opts.sha}` },
    repository: {
      id: opts.ids.repoId,
      owner: { id: opts.ids.ownerId, login: owner, username: owner },
      name,
      full_name: opts.repo,
      private: false,
      fork: false,
      html_url: `${opts.appUrl}${opts.repo}`,
      clone_url: `${opts.appUrl}${opts.repo}.git`,
      default_branch: "main",
    },
    pusher: user,
    sender: user,
  };
}

export function buildTaskContext(
  settings: ContextSettings,
  job: StoredJob,
  ids: ScopeIds & { actorId: number },
  task: { id: number; token: string },
): Obj {
  const [owner] = job.repo.split("/") as [string];
  const ref = refParts(job.ref);
  const pr = pullRequestOf(job);
  const runtime = signRuntimeToken(settings.jwtSecret, { taskId: task.id, runId: job.runId, jobId: job.id });
  const ctx: Obj = {
    action: "",
    action_path: "",
    action_ref: "",
    action_repository: "",
    action_status: "",
    actor: job.actor,
    actor_id: String(ids.actorId),
    api_url: `${settings.appUrl}api/v1`,
    base_ref: pr ? String(obj(pr.base).ref ?? "") : "",
    env: "",
    event: job.eventPayload,
    event_name: job.event,
    event_path: "",
    forgejo_server_version: settings.serverVersion,
    graphql_url: "",
    head_ref: pr ? String(obj(pr.head).ref ?? "") : "",
    job: settings.contextJob === "id" ? String(job.id) : job.jobKey,
    job_name: "",
    path: "",
    ref: job.ref,
    ref_name: ref.name,
    ref_protected: false,
    ref_type: ref.type,
    repository: job.repo,
    repository_id: String(ids.repoId),
    repository_owner: owner,
    repository_owner_id: String(ids.ownerId),
    repositoryUrl: `${settings.appUrl}${job.repo}`,
    retention_days: "",
    run_attempt: String(job.attempt),
    run_id: String(job.runId),
    run_number: String(job.runNumber),
    runner_perflog: "",
    runner_tracking_id: "",
    secret_source: "Actions",
    server_url: settings.appUrl,
    sha: job.sha,
    token: task.token,
    triggering_actor: "",
    workflow: job.workflowFile,
    workflow_ref: `${job.repo}/.forgejo/workflows/${job.workflowFile}@${job.ref}`,
    workspace: "",
  };
  if (settings.actionsUrlKeys !== "none") {
    ctx.gitea_default_actions_url = settings.defaultActionsUrl;
    ctx.gitea_runtime_token = runtime;
    if (settings.actionsUrlKeys === "both") {
      ctx.forgejo_default_actions_url = settings.defaultActionsUrl;
      ctx.forgejo_runtime_token = runtime;
    }
  }
  for (const [k, v] of Object.entries(job.contextOverrides)) {
    if (v === null) delete ctx[k];
    else ctx[k] = v;
  }
  return Object.fromEntries(Object.entries(ctx).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
