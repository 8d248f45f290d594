import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseRemote, readRepoInfo } from "../../src/exec/git-info.js";
import { buildTaskContext, defaultEvent, refFacts, type RunInfo } from "../../src/exec/task-context.js";
import { findWorkflowFiles } from "../../src/exec/workflow-files.js";
import { InputError, typeCallInputs, typeDispatchInputs } from "../../src/workflow/inputs.js";

test("remote URLs give the repository and the server", () => {
  assert.deepEqual(parseRemote("https://forge.example/alice/webapp.git"), { server: "https://forge.example/", owner: "alice", name: "webapp" });
  assert.deepEqual(parseRemote("git@forge.example:alice/webapp.git"), { server: "https://forge.example/", owner: "alice", name: "webapp" });
  assert.deepEqual(parseRemote("ssh://git@forge.example:2222/alice/webapp"), { server: "https://forge.example:2222/", owner: "alice", name: "webapp" });
  assert.deepEqual(parseRemote("http://127.0.0.1:3000/sub/alice/webapp/"), { server: "http://127.0.0.1:3000/sub/", owner: "alice", name: "webapp" });
  assert.equal(parseRemote("/srv/git/repo.git"), undefined);
});

test("repository facts come from git, or local/<dir> without it", (t) => {
  const base = mkdtempSync(path.join(tmpdir(), "nr-repo-"));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const plain = path.join(base, "plain-dir");
  mkdirSync(plain);
  const info = readRepoInfo(plain);
  assert.equal(info.repository, "local/plain-dir");
  assert.equal(info.sha, "");

  const repo = path.join(base, "repo");
  mkdirSync(repo);
  const git = (...a: string[]) => execFileSync("git", a, { cwd: repo, encoding: "utf8" }).trim();
  git("init", "-q", "-b", "dev");
  writeFileSync(path.join(repo, "f"), "x");
  git("add", "f");
  git("-c", "user.name=Ann", "-c", "user.email=a@x", "commit", "-qm", "c");
  git("config", "user.name", "Ann");
  git("remote", "add", "origin", "git@forge.example:team/proj.git");
  const r = readRepoInfo(repo);
  assert.equal(r.repository, "team/proj");
  assert.equal(r.serverUrl, "https://forge.example/");
  assert.equal(r.ref, "refs/heads/dev");
  assert.equal(r.sha, git("rev-parse", "HEAD"));
  assert.equal(r.actor, "Ann");

  git("tag", "v1");
  git("checkout", "-q", "--detach");
  assert.equal(readRepoInfo(repo).ref, "refs/tags/v1");
});

const run: RunInfo = {
  repo: { repository: "o/r", owner: "o", name: "r", serverUrl: "https://f.example/", sha: "s".repeat(40), ref: "refs/heads/main", actor: "me", defaultBranch: "main" },
  eventName: "push",
  event: {},
  runId: 3,
  runNumber: 3,
  token: "t",
  runtimeToken: "rt",
  defaultActionsUrl: "https://data.forgejo.org",
};

test("the task context has Forgejo's keys", () => {
  const ctx = buildTaskContext(run, "ci.yml", ".forgejo/workflows", "build");
  for (const key of ["event", "event_name", "repository", "repository_owner", "repositoryUrl", "ref", "ref_name", "ref_type", "sha", "run_id", "run_number", "run_attempt", "job", "workflow", "workflow_ref", "server_url", "api_url", "token", "gitea_default_actions_url", "forgejo_default_actions_url", "gitea_runtime_token", "forgejo_runtime_token", "actor", "head_ref", "base_ref"]) {
    assert.ok(key in ctx, key);
  }
  assert.equal(ctx.ref_name, "main");
  assert.equal(ctx.ref_type, "branch");
  assert.equal(ctx.api_url, "https://f.example/api/v1");
  assert.equal(ctx.workflow_ref, "o/r/.forgejo/workflows/ci.yml@refs/heads/main");
  assert.equal(ctx.workflow, ".forgejo/workflows/ci.yml", "no name: the file's path, as on GitHub");
  assert.equal(buildTaskContext(run, "ci.yml", ".forgejo/workflows", "build", "CI").workflow, "CI");
  assert.equal(ctx.ref_protected, false);
});

test("refs come from the event when it has them", () => {
  assert.deepEqual(refFacts({ ...run, event: { ref: "refs/tags/v2", after: "a".repeat(40) } }), { ref: "refs/tags/v2", sha: "a".repeat(40), headRef: "", baseRef: "" });
  const pr = { pull_request: { number: 5, head: { ref: "feat", sha: "h".repeat(40) }, base: { ref: "main", sha: "b".repeat(40) } } };
  assert.deepEqual(refFacts({ ...run, eventName: "pull_request", event: pr }), { ref: "refs/pull/5/head", sha: "h".repeat(40), headRef: "feat", baseRef: "main" });
  assert.deepEqual(refFacts({ ...run, eventName: "pull_request_target", event: pr }), { ref: "refs/heads/main", sha: "b".repeat(40), headRef: "feat", baseRef: "main" });
  const ev = defaultEvent("push", run.repo, {});
  assert.equal(ev.after, run.repo.sha);
  assert.equal((ev.repository as Record<string, unknown>).full_name, "o/r");
});

test("workflow discovery: -W file or dir, else the first of .forgejo, .gitea, .github that exists (as the server), subdirectories included", (t) => {
  const root = mkdtempSync(path.join(tmpdir(), "nr-find-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const rel = (files: string[]) => files.map((f) => path.relative(root, f));
  assert.throws(() => findWorkflowFiles(root), /no workflows found/);
  mkdirSync(path.join(root, ".github/workflows/nested"), { recursive: true });
  writeFileSync(path.join(root, ".github/workflows/b.yaml"), "");
  writeFileSync(path.join(root, ".github/workflows/a.yml"), "");
  writeFileSync(path.join(root, ".github/workflows/notes.txt"), "");
  writeFileSync(path.join(root, ".github/workflows/nested/c.yml"), "");
  assert.deepEqual(rel(findWorkflowFiles(root)), [".github/workflows/a.yml", ".github/workflows/b.yaml", ".github/workflows/nested/c.yml"]);
  assert.deepEqual(rel(findWorkflowFiles(root, undefined, { recurse: false })), [".github/workflows/a.yml", ".github/workflows/b.yaml"]);
  mkdirSync(path.join(root, ".gitea/workflows"), { recursive: true });
  assert.throws(() => findWorkflowFiles(root), /no workflows found in .*\.gitea\/workflows/, "an existing .gitea/workflows is the one used, even empty");
  writeFileSync(path.join(root, ".gitea/workflows/g.yml"), "");
  assert.deepEqual(rel(findWorkflowFiles(root)), [".gitea/workflows/g.yml"]);
  mkdirSync(path.join(root, ".forgejo/workflows"), { recursive: true });
  writeFileSync(path.join(root, ".forgejo/workflows/x.yml"), "");
  assert.deepEqual(rel(findWorkflowFiles(root)), [".forgejo/workflows/x.yml"]);
  assert.deepEqual(rel(findWorkflowFiles(root, ".github/workflows/b.yaml")), [".github/workflows/b.yaml"]);
  assert.deepEqual(rel(findWorkflowFiles(root, ".github/workflows", { recurse: false })), [".github/workflows/a.yml", ".github/workflows/b.yaml"]);
  assert.throws(() => findWorkflowFiles(root, "nope.yml"), /no such file/);
});

test("dispatch and call inputs are typed", () => {
  const specs = {
    flag: { type: "boolean" as const, default: false },
    n: { type: "number" as const, default: 2 },
    level: { type: "choice" as const, options: ["low", "high"], default: "low" },
    name: { type: "string" as const, required: true },
  };
  assert.deepEqual(typeDispatchInputs(specs, { flag: "TRUE", n: "7", name: "x" }), {
    typed: { flag: true, n: 7, level: "low", name: "x" },
    strings: { flag: "true", n: "7", level: "low", name: "x" },
  });
  assert.throws(() => typeDispatchInputs(specs, { flag: "yes", name: "x" }), InputError);
  assert.throws(() => typeDispatchInputs(specs, { n: "seven", name: "x" }), /must be a number/);
  assert.throws(() => typeDispatchInputs(specs, { level: "mid", name: "x" }), /one of 'low', 'high'/);
  assert.throws(() => typeDispatchInputs(specs, {}), /'name' is required/);
  assert.throws(() => typeDispatchInputs(specs, { name: "x", other: "1" }), /Unexpected input 'other'/);
  assert.deepEqual(typeCallInputs(specs, { name: 5, flag: true }), { flag: true, n: 2, level: "low", name: "5" });
});
