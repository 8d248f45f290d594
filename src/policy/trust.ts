// Which repositories (and events) may run jobs on this runner. Checked before
// anything of a task runs: no step, checkout or action fetch happens for a
// refused task.

export interface TrustInput {
  /** `owner/repo` of the task (github.repository). */
  repository: string;
  /** github.event_name */
  eventName: string;
  /** github.event (the webhook payload). */
  event: Record<string, unknown>;
}

export interface TrustPolicy {
  /** `owner/repo` or `owner/*`, case-insensitive. Empty = every repository. */
  trusted_repos: string[];
  /** Allowed event names. Empty = every event. `pull_request_fork` etc. see below. */
  trusted_events: string[];
  /** Name of the setting for messages, e.g. "runner.trusted_repos" or "server.connections.host.trusted_repos". */
  source?: string;
}

export type TrustResult = { ok: true } | { ok: false; reason: string };

/**
 * Event entries: a plain name (`push`, `pull_request`, ...) allows that event
 * except pull requests from forks; `pull_request:fork` (or
 * `pull_request_target:fork`) additionally allows fork pull requests.
 */
export function checkTrust(input: TrustInput, policy: TrustPolicy): TrustResult {
  const source = policy.source ?? "runner";
  const repo = input.repository.trim();
  if (policy.trusted_repos.length > 0 && !policy.trusted_repos.some((p) => repoMatches(p, repo))) {
    return {
      ok: false,
      reason: `repository "${repo}" is not in ${source}.trusted_repos (${policy.trusted_repos.join(", ")})`,
    };
  }
  if (policy.trusted_events.length > 0) {
    const event = input.eventName.trim().toLowerCase();
    const allowed = policy.trusted_events.map((e) => e.trim().toLowerCase());
    if (!allowed.includes(event) && !allowed.includes(`${event}:fork`)) {
      return {
        ok: false,
        reason: `event "${input.eventName}" of repository "${repo}" is not in ${source}.trusted_events (${policy.trusted_events.join(", ")})`,
      };
    }
    if (isForkPullRequest(input.event) && !allowed.includes(`${event}:fork`)) {
      const head = fullName(input.event, "head") ?? "a fork";
      return {
        ok: false,
        reason: `event "${input.eventName}" of repository "${repo}" comes from fork "${head}"; ${source}.trusted_events allows forks only with "${event}:fork" (${policy.trusted_events.join(", ")})`,
      };
    }
  }
  return { ok: true };
}

/** The trust input of a task, from its github context (Task.context). */
export function trustInputFromContext(context: Record<string, unknown>): TrustInput {
  const str = (v: unknown) => (typeof v === "string" ? v : "");
  return {
    repository: str(context.repository),
    eventName: str(context.event_name),
    event: obj(context.event) ?? {},
  };
}

/** `owner/repo` exact, or `owner/*`; Forgejo compares owner and repo names case-insensitively. */
export function repoMatches(pattern: string, repository: string): boolean {
  const p = pattern.trim().toLowerCase();
  const r = repository.trim().toLowerCase();
  if (p === "" || !r.includes("/")) return false;
  if (p === "*" || p === "*/*") return true;
  if (p.endsWith("/*")) return r.startsWith(p.slice(0, -1)) && !r.slice(p.length - 1).includes("/");
  return p === r;
}

/**
 * A pull request from another repository: head and base full names differ.
 * `head.repo.fork` decides only when the names are missing (a repository that
 * is itself a fork would otherwise look foreign in its own branch PRs).
 */
export function isForkPullRequest(event: Record<string, unknown>): boolean {
  const pr = obj(event.pull_request);
  if (!pr) return false;
  const head = fullName(event, "head");
  const base = fullName(event, "base");
  if (head !== undefined && base !== undefined) return head.toLowerCase() !== base.toLowerCase();
  return obj(obj(pr.head)?.repo)?.fork === true;
}

function fullName(event: Record<string, unknown>, side: "head" | "base"): string | undefined {
  const name = obj(obj(obj(obj(event.pull_request)?.[side])?.repo))?.full_name;
  return typeof name === "string" ? name : undefined;
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
