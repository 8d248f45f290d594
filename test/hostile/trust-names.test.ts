// Hostile repository names and events against runner-side trust: a Unicode
// look-alike of a trusted name, an empty repository name under `owner/*`, a
// trailing-slash pattern, and a pull request from a deleted fork. A refused job
// must not run a single step; a control job of the same daemon shows the
// probe step does run when trust allows it.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { hostJob, isRoot, logText, runWorkflow, skipReason, startRunner, type HostileRunner } from "./harness.js";

const ran = `RAN-${randomBytes(6).toString("hex")}`;
const probe = hostJob(`      - run: echo ${ran}\n`);

describe("hostile: trust names", { skip: isRoot ? await skipReason({ isolation: "none", cgroups: "none" }) : "needs root (CI runs as root)" }, () => {
  let r: HostileRunner;
  before(async () => {
    r = await startRunner({ trustedRepos: ["alice/keep", "bob/*"], capacity: 2 });
  });
  after(async () => {
    await r?.close();
  });

  it("runs a trusted repository whose name differs in ASCII case only (control)", async () => {
    const job = await runWorkflow(r, probe, { repo: "ALICE/Keep" });
    assert.equal(job.result, "success", logText(job));
    assert.ok(logText(job).includes(ran));
  });

  it("refuses a repository named with a Unicode look-alike (KELVIN SIGN for k)", async () => {
    const job = await runWorkflow(r, probe, { repo: "alice/\u212Aeep" });
    assert.ok(!logText(job).includes(ran), `a step of "alice/\u212Aeep" ran under trusted_repos [alice/keep]:\n${logText(job)}`);
    assert.notEqual(job.result, "success");
    assert.ok(r.daemon.alive(), "daemon alive");
  });

  it("refuses an empty repository name under owner/* (\"bob/\")", async () => {
    // Forgejo never names a repository so; a task that does (a server bug, a forged context) is not in bob/*.
    const job = await runWorkflow(r, probe, { repo: "bob/x", context: { repository: "bob/", repository_owner: "bob" } });
    assert.ok(!logText(job).includes(ran), `a step of "bob/" ran under trusted_repos [bob/*]:\n${logText(job)}`);
    assert.notEqual(job.result, "success");
  });

  it("refuses to start with a trailing-slash pattern (\"alice/\") in trusted_repos", async () => {
    const bad = await startRunner({ trustedRepos: ["alice/"] });
    try {
      const t = setTimeout(() => bad.daemon.child.kill("SIGKILL"), 30_000);
      const exit = await bad.daemon.exited;
      clearTimeout(t);
      assert.notEqual(exit.code, 0, bad.daemon.output());
      assert.equal(exit.signal, null, `still running after 30 s with trusted_repos [alice/]: ${bad.daemon.output().slice(-2000)}`);
      assert.match(bad.daemon.output(), /alice\//);
    } finally {
      await bad.close();
    }
  });
});

const pullRequest = (head: Record<string, unknown> | null) => ({
  action: "opened",
  number: 7,
  pull_request: {
    number: 7,
    title: "hostile",
    head: { ref: "feature", sha: "1".repeat(40), label: head ? `${String(head.full_name).split("/")[0]}:feature` : "unknown:feature", repo: head },
    base: { ref: "main", sha: "2".repeat(40), repo: { full_name: "alice/webapp", name: "webapp", fork: false } },
  },
  repository: { full_name: "alice/webapp", name: "webapp" },
});

describe("hostile: pull request from a deleted fork", { skip: isRoot ? await skipReason({ isolation: "none", cgroups: "none" }) : "needs root (CI runs as root)" }, () => {
  let r: HostileRunner;
  before(async () => {
    r = await startRunner({ trustedEvents: ["push", "pull_request"], capacity: 2 });
  });
  after(async () => {
    await r?.close();
  });

  const pr = (head: Record<string, unknown> | null) => ({
    repo: "alice/webapp",
    event: "pull_request",
    ref: "refs/pull/7/head",
    eventPayload: pullRequest(head),
  });

  it("runs a pull request between branches of the repository itself (control)", async () => {
    const job = await runWorkflow(r, probe, pr({ full_name: "alice/webapp", name: "webapp", fork: false }));
    assert.equal(job.result, "success", logText(job));
    assert.ok(logText(job).includes(ran));
  });

  it("refuses a pull request from a live fork without pull_request:fork (control)", async () => {
    const job = await runWorkflow(r, probe, pr({ full_name: "mallory/webapp", name: "webapp", fork: true }));
    assert.ok(!logText(job).includes(ran));
    assert.notEqual(job.result, "success");
  });

  it("treats a pull request whose head repository is gone as a fork", async () => {
    const job = await runWorkflow(r, probe, pr(null));
    assert.ok(!logText(job).includes(ran), `a pull request from a deleted fork ran without pull_request:fork:\n${logText(job)}`);
    assert.notEqual(job.result, "success");
  });
});

describe("hostile: pull request from a deleted fork, forks allowed", { skip: isRoot ? await skipReason({ isolation: "none", cgroups: "none" }) : "needs root (CI runs as root)" }, () => {
  let r: HostileRunner;
  before(async () => {
    r = await startRunner({ trustedEvents: ["push", "pull_request:fork"], capacity: 2, cache: true });
  });
  after(async () => {
    await r?.close();
  });

  // The cache's view of the same task: a fork pull request may only restore.
  const cacheMode = hostJob('      - run: echo "cache-mode=$ACTIONS_CACHE_MODE"\n');
  const modeOf = async (head: Record<string, unknown> | null) => {
    const job = await runWorkflow(r, cacheMode, { repo: "alice/webapp", event: "pull_request", ref: "refs/pull/7/head", eventPayload: pullRequest(head) });
    return /^cache-mode=(\S*)$/m.exec(logText(job))?.[1];
  };

  it("runs it, and the cache agrees with trust that it is a fork", async () => {
    assert.equal(await modeOf({ full_name: "alice/webapp", name: "webapp", fork: false }), "write", "same-repository control");
    assert.equal(await modeOf({ full_name: "mallory/webapp", name: "webapp", fork: true }), "read", "live fork control");
    assert.equal(await modeOf(null), "read", "deleted fork");
  });
});
