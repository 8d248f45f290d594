import { test } from "node:test";
import assert from "node:assert/strict";
import { isForkPullRequest, jobCacheScope } from "../../src/cache/index.js";

const pr = (head: string | null, base = "o/r", extra: Record<string, unknown> = {}) => ({
  number: 4,
  pull_request: { number: 4, head: head === null ? { repo: null } : { repo: { full_name: head } }, base: { repo: { full_name: base } }, ...extra },
});

test("push and other events write the shared cache", () => {
  for (const eventName of ["push", "workflow_dispatch", "schedule", "release"]) {
    assert.deepEqual(jobCacheScope({ repository: "o/r", eventName, event: {}, ref: "refs/heads/main" }), { isolationKey: "", readOnly: false });
  }
});

test("pull requests are isolated under their ref", () => {
  const s = jobCacheScope({ repository: "o/r", eventName: "pull_request", event: pr("o/r"), ref: "refs/pull/4/head" });
  assert.deepEqual(s, { isolationKey: "refs/pull/4/head", readOnly: false });
  const review = jobCacheScope({ repository: "o/r", eventName: "pull_request_review", event: pr("o/r"), ref: "refs/pull/4/head" });
  assert.equal(review.isolationKey, "refs/pull/4/head");
  // Without a refs/pull ref the key comes from the pull request number.
  const noRef = jobCacheScope({ repository: "o/r", eventName: "pull_request", event: pr("o/r"), ref: "refs/heads/feature" });
  assert.equal(noRef.isolationKey, "refs/pull/4/head");
  // Without either the job only reads.
  const unknown = jobCacheScope({ repository: "o/r", eventName: "pull_request", event: {}, ref: "refs/heads/feature" });
  assert.equal(unknown.readOnly, true);
  assert.match(unknown.reason ?? "", /read-only/);
});

test("a merged pull request's closed event writes the shared cache; an unmerged one does not", () => {
  const merged = jobCacheScope({ repository: "o/r", eventName: "pull_request", event: { ...pr("o/r", "o/r", { merged: true }), action: "closed" }, ref: "refs/pull/4/head" });
  assert.deepEqual(merged, { isolationKey: "", readOnly: false });
  const closed = jobCacheScope({ repository: "o/r", eventName: "pull_request", event: { ...pr("o/r", "o/r", { merged: false }), action: "closed" }, ref: "refs/pull/4/head" });
  assert.equal(closed.isolationKey, "refs/pull/4/head");
});

test("fork pull requests are read-only; pull_request_target shares the cache", () => {
  assert.equal(isForkPullRequest(pr("evil/r")), true);
  assert.equal(isForkPullRequest(pr("O/R")), false);
  assert.equal(isForkPullRequest(pr(null)), true);
  assert.equal(isForkPullRequest({}), false);
  const fork = jobCacheScope({ repository: "o/r", eventName: "pull_request", event: pr("evil/r"), ref: "refs/pull/4/head" });
  assert.deepEqual({ ...fork, reason: undefined }, { isolationKey: "refs/pull/4/head", readOnly: true, reason: undefined });
  const target = jobCacheScope({ repository: "o/r", eventName: "pull_request_target", event: pr("evil/r"), ref: "refs/heads/main" });
  assert.deepEqual(target, { isolationKey: "", readOnly: false });
});

test("a read-only connection", () => {
  const s = jobCacheScope({ repository: "o/r", eventName: "push", event: {}, ref: "refs/heads/main", readOnly: true });
  assert.equal(s.readOnly, true);
  assert.equal(s.isolationKey, "");
});
