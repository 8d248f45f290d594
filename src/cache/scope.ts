import { isForkPullRequest } from "../policy/trust.js";

export { isForkPullRequest };

/** How a job may use the cache of its repository. */
export interface JobCacheScope {
  /** "" = reads and writes the shared repository cache. Otherwise writes land under this key only. */
  isolationKey: string;
  readOnly: boolean;
  /** Why the scope is restricted, for the job log. */
  reason?: string;
}

export interface JobScopeInput {
  repository: string;
  eventName: string;
  event: Record<string, unknown>;
  ref: string;
  /** Per-connection setting: the job may only restore. */
  readOnly?: boolean;
}

const obj = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/**
 * forgejo-runner's write isolation: runs of `pull_request` (and the other
 * events that run the pull request's code) write under `refs/pull/N/...`;
 * a closed-and-merged pull request and `pull_request_target` write the shared
 * cache. Fork pull requests are read-only on top of that.
 */
export function jobCacheScope(input: JobScopeInput): JobCacheScope {
  const { eventName, event, ref } = input;
  let isolationKey = "";
  let readOnly = input.readOnly === true;
  let reason = readOnly ? "the connection allows cache reads only" : undefined;
  const runsPrCode = eventName.startsWith("pull_request") && eventName !== "pull_request_target";
  if (runsPrCode) {
    const pr = obj(event.pull_request);
    const mergedClose = eventName === "pull_request" && event.action === "closed" && pr?.merged === true;
    if (!mergedClose) {
      if (ref.startsWith("refs/pull/")) {
        isolationKey = ref;
      } else {
        const n = typeof event.number === "number" ? event.number : typeof pr?.number === "number" ? pr.number : undefined;
        if (n !== undefined) {
          isolationKey = `refs/pull/${n}/head`;
        } else {
          readOnly = true;
          reason = `cannot tell which pull request ref ${JSON.stringify(ref)} belongs to; cache is read-only`;
        }
      }
      if (isForkPullRequest(event)) {
        readOnly = true;
        reason = "pull request from a fork: cache is read-only";
      }
    }
  }
  return reason === undefined ? { isolationKey, readOnly } : { isolationKey, readOnly, reason };
}
