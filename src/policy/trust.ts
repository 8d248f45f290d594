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

/** What a trusted_repos entry must look like: `owner/repo` or `owner/*` (`owner/` is not one). */
export const REPO_PATTERN = /^[^/\s*]+\/([^/\s*]+|\*)$/;

/**
 * Forgejo compares owner and repository names case-insensitively, in ASCII
 * only: folding Unicode case would let `\u212A` (Kelvin sign) stand for `k`.
 */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** `owner/repo` exact, or `owner/*` (or `*`); anything else (e.g. `owner/`) matches nothing. */
export function repoMatches(pattern: string, repository: string): boolean {
  const p = asciiLower(pattern.trim());
  const r = asciiLower(repository.trim());
  if (!/^[^/\s]+\/[^/\s]+$/.test(r)) return false;
  if (p === "*" || p === "*/*") return true;
  if (!REPO_PATTERN.test(p)) return false;
  if (p.endsWith("/*")) return r.startsWith(p.slice(0, -1));
  return p === r;
}

/**
 * A pull request from another repository, the one rule for trust and the
 * cache scope. Only head and base full names that are both present and equal
 * (ASCII case-insensitively) make it a pull request between branches of the
 * repository itself; a missing head repository (a deleted fork) or any other
 * missing name counts as a fork. `head.repo.fork` is not used: a repository
 * that is itself a fork has it set in its own branch pull requests.
 */
export function isForkPullRequest(event: Record<string, unknown>): boolean {
  const pr = obj(event.pull_request);
  if (!pr) return false;
  const head = fullName(event, "head");
  const base = fullName(event, "base");
  return head === undefined || base === undefined || asciiLower(head) !== asciiLower(base);
}

function fullName(event: Record<string, unknown>, side: "head" | "base"): string | undefined {
  const name = obj(obj(obj(obj(event.pull_request)?.[side])?.repo))?.full_name;
  return typeof name === "string" ? name : undefined;
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
