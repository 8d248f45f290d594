import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { checkTrust, isForkPullRequest, repoMatches, trustInputFromContext } from "../../src/policy/trust.js";

const plan = ["torjus/nixos-servers", "torjus/nixos-exporter", "torjus/nixos"];

function pr(head: string, base: string, fork?: boolean): Record<string, unknown> {
  return {
    pull_request: {
      head: { repo: { full_name: head, ...(fork !== undefined ? { fork } : {}) } },
      base: { repo: { full_name: base } },
    },
  };
}

describe("trusted_repos", () => {
  const table: [string[], string, boolean][] = [
    [plan, "torjus/nixos-servers", true],
    [plan, "Torjus/NixOS-Servers", true],
    [plan, "torjus/nixos", true],
    [plan, "torjus/nixos-other", false],
    [plan, "evil/nixos-servers", false],
    [plan, "torjus/nixos-servers-fork", false],
    [["torjus/*"], "torjus/anything", true],
    [["torjus/*"], "TORJUS/Anything", true],
    [["torjus/*"], "torjusx/anything", false],
    [["torjus/*"], "evil/torjus", false],
    [["torjus/*"], "torjus", false],
    [[], "anyone/anything", true],
    [["*"], "anyone/anything", true],
  ];
  for (const [repos, repo, ok] of table) {
    it(`${JSON.stringify(repos)} ${ok ? "allows" : "refuses"} ${repo}`, () => {
      const r = checkTrust({ repository: repo, eventName: "push", event: {} }, { trusted_repos: repos, trusted_events: [] });
      assert.equal(r.ok, ok);
    });
  }

  it("names the repository and the setting in the reason", () => {
    const r = checkTrust({ repository: "evil/x", eventName: "push", event: {} }, { trusted_repos: ["torjus/nixos-servers", "torjus/*"], trusted_events: [] });
    assert.deepEqual(r, { ok: false, reason: 'repository "evil/x" is not in runner.trusted_repos (torjus/nixos-servers, torjus/*)' });
    const c = checkTrust({ repository: "evil/x", eventName: "push", event: {} }, { trusted_repos: ["torjus/*"], trusted_events: [], source: "server.connections.host" });
    assert.equal(c.ok, false);
    assert.match((c as { reason: string }).reason, /server\.connections\.host\.trusted_repos/);
  });

  it("an exact pattern matches exactly its repository (any case), nothing else", () => {
    const name = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,15}$/);
    fc.assert(
      fc.property(name, name, name, name, (o1, r1, o2, r2) => {
        const same = o1.toLowerCase() === o2.toLowerCase() && r1.toLowerCase() === r2.toLowerCase();
        assert.equal(repoMatches(`${o1}/${r1}`, `${o2}/${r2}`), same);
        assert.equal(repoMatches(`${o1}/*`, `${o2}/${r2}`), o1.toLowerCase() === o2.toLowerCase());
      }),
    );
  });
});

describe("trusted_events", () => {
  const policy = { trusted_repos: plan, trusted_events: ["push", "workflow_dispatch", "pull_request"] };
  it("allows listed events and refuses others, naming event, repo and setting", () => {
    assert.deepEqual(checkTrust({ repository: "torjus/nixos", eventName: "push", event: {} }, policy), { ok: true });
    const r = checkTrust({ repository: "torjus/nixos", eventName: "schedule", event: {} }, policy);
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /event "schedule" of repository "torjus\/nixos" is not in runner\.trusted_events \(push, workflow_dispatch, pull_request\)/);
  });

  it("refuses pull_request from a fork unless pull_request:fork is listed", () => {
    const same = pr("torjus/nixos", "torjus/nixos");
    const fork = pr("mallory/nixos", "torjus/nixos");
    assert.equal(checkTrust({ repository: "torjus/nixos", eventName: "pull_request", event: same }, policy).ok, true);
    const r = checkTrust({ repository: "torjus/nixos", eventName: "pull_request", event: fork }, policy);
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /fork "mallory\/nixos".*"pull_request:fork"/);
    const withForks = { ...policy, trusted_events: ["pull_request:fork"] };
    assert.equal(checkTrust({ repository: "torjus/nixos", eventName: "pull_request", event: fork }, withForks).ok, true);
  });

  it("detects forks by differing full names, else by head.repo.fork", () => {
    assert.equal(isForkPullRequest(pr("a/x", "A/X")), false);
    assert.equal(isForkPullRequest(pr("a/x", "b/x")), true);
    assert.equal(isForkPullRequest(pr("a/x", "a/x", true)), false, "a repository that is itself a fork, PR between its own branches");
    assert.equal(isForkPullRequest({ pull_request: { head: { repo: { fork: true } }, base: {} } }), true);
    assert.equal(isForkPullRequest({}), false);
    assert.equal(isForkPullRequest({ pull_request: "garbage" }), false);
  });

  it("checks the repository before the event", () => {
    const r = checkTrust({ repository: "evil/x", eventName: "schedule", event: {} }, policy);
    assert.match((r as { reason: string }).reason, /trusted_repos/);
  });
});

describe("trustInputFromContext", () => {
  it("takes repository, event name and payload from a task's github context", () => {
    const event = pr("mallory/x", "torjus/x");
    assert.deepEqual(trustInputFromContext({ repository: "torjus/x", event_name: "pull_request", event, sha: "abc" }), {
      repository: "torjus/x", eventName: "pull_request", event,
    });
    const empty = trustInputFromContext({ repository: 7, event: "nope" });
    assert.deepEqual(empty, { repository: "", eventName: "", event: {} });
    // A task without a repository is refused once trusted_repos is set.
    assert.equal(checkTrust(empty, { trusted_repos: ["torjus/*"], trusted_events: [] }).ok, false);
  });
});

describe("one fork rule, ASCII-only case folding, no half patterns", () => {
  it("a pull request from a deleted fork is a fork for trust and for the cache scope alike", async () => {
    const { isForkPullRequest: cacheIsFork, jobCacheScope } = await import("../../src/cache/scope.js");
    const deleted = { number: 4, pull_request: { number: 4, head: { repo: null }, base: { repo: { full_name: "torjus/nixos" } } } };
    assert.equal(isForkPullRequest(deleted), true);
    assert.equal(cacheIsFork(deleted), true);
    const policy = { trusted_repos: plan, trusted_events: ["pull_request"] };
    const r = checkTrust({ repository: "torjus/nixos", eventName: "pull_request", event: deleted }, policy);
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /pull_request:fork/);
    assert.equal(jobCacheScope({ repository: "torjus/nixos", eventName: "pull_request", event: deleted, ref: "refs/pull/4/head" }).readOnly, true);
    // Both sides agree on every shape of payload.
    const shapes: Array<Record<string, unknown>> = [
      deleted, {}, { pull_request: "x" }, pr("a/x", "A/X"), pr("a/x", "b/x"), pr("a/x", "a/x", true),
      { pull_request: { head: { repo: { fork: true } }, base: {} } }, { pull_request: { head: { repo: { full_name: "a/x" } } } },
    ];
    for (const e of shapes) assert.equal(cacheIsFork(e), isForkPullRequest(e), JSON.stringify(e));
  });

  it("compares names in ASCII case only: the Kelvin sign is not a k", () => {
    assert.equal(repoMatches("kelvin/x", "\u212Aelvin/x"), false);
    assert.equal(repoMatches("\u212Aelvin/x", "kelvin/x"), false);
    assert.equal(repoMatches("kelvin/*", "\u212Aelvin/x"), false);
    assert.equal(repoMatches("KELVIN/X", "kelvin/x"), true);
    assert.equal(repoMatches("stra\u00DFe/x", "STRASSE/x"), false);
    assert.equal(isForkPullRequest(pr("\u212A/x", "k/x")), true);
    const r = checkTrust({ repository: "\u212Aelvin/x", eventName: "push", event: {} }, { trusted_repos: ["kelvin/*"], trusted_events: [] });
    assert.equal(r.ok, false);
  });

  it("`owner/` matches nothing, and the config refuses it naming the key", async () => {
    assert.equal(repoMatches("torjus/", "torjus/nixos"), false);
    assert.equal(repoMatches("torjus/", "torjus/"), false);
    const { parseConfig } = await import("../../src/config/load-config.js");
    assert.throws(
      () => parseConfig("runner:\n  trusted_repos: [torjus/]\n", "config.yaml", { env: {}, cwd: "/" }),
      /runner\.trusted_repos\[0\]: "torjus\/" is not a repository pattern \(expected owner\/repo or owner\/\*\)/,
    );
  });
});
