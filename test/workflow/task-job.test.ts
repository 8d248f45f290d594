import { test } from "node:test";
import assert from "node:assert/strict";
import { githubTaskContext, parseWorkflowUses, payloadJob, workflowCallOf } from "../../src/workflow/task-job.js";

// What Gitea 1.22 stores and sends as the payload of a job (go-yaml output).
const GITEA_PAYLOAD = `name: Build
"on": [push]
jobs:
    build:
        name: build
        runs-on: native
        steps:
            - run: echo hi
`;

test("github.job is the payload's job key, also when the server sends its numeric job id", () => {
  const ctx = githubTaskContext({ job: "17", workflow: "ci.yml", workflow_ref: "o/r/.gitea/workflows/ci.yml@refs/heads/main" }, payloadJob(GITEA_PAYLOAD));
  assert.equal(ctx.job, "build");
  assert.equal(ctx.workflow, "Build");
  assert.equal(ctx.workflow_ref, "o/r/.gitea/workflows/ci.yml@refs/heads/main");
});

test("github.workflow: the server's value stays when the workflow has no name or the server sent something else than a file name", () => {
  const unnamed = payloadJob(GITEA_PAYLOAD.replace("name: Build\n", ""));
  assert.equal(githubTaskContext({ job: "build", workflow: "ci.yml" }, unnamed).workflow, "ci.yml");
  assert.equal(githubTaskContext({ job: "build", workflow: "Release" }, payloadJob(GITEA_PAYLOAD)).workflow, "Release");
});

test("an unreadable payload leaves the context alone (the engine reports the payload)", () => {
  const ctx = { job: "3", workflow: "ci.yml" };
  assert.deepEqual(githubTaskContext(ctx, payloadJob("jobs: [")), ctx);
  assert.deepEqual(githubTaskContext(ctx, payloadJob("jobs:\n  a: {}\n  b: {}\n")), ctx);
});

test("reusable-workflow calls: local and remote references", () => {
  const call = workflowCallOf(payloadJob(`on: push\njobs:\n  call:\n    runs-on: native\n    uses: ./.gitea/workflows/lib.yml\n    with:\n      n: 2\n`));
  assert.deepEqual(call, { uses: "./.gitea/workflows/lib.yml", source: { kind: "local", path: ".gitea/workflows/lib.yml" } });
  assert.deepEqual(parseWorkflowUses("./.github/workflows/x.yaml"), { kind: "local", path: ".github/workflows/x.yaml" });
  assert.deepEqual(parseWorkflowUses("org/lib/.forgejo/workflows/build.yml@v1"), {
    kind: "remote", repository: "org/lib", path: ".forgejo/workflows/build.yml", ref: "v1",
  });
  assert.equal(workflowCallOf(payloadJob(GITEA_PAYLOAD)), undefined);
});

test("reusable-workflow calls: malformed references are refused", () => {
  for (const bad of ["./workflows/x.yml", "./.gitea/workflows/../../x.yml", "org/lib/.gitea/workflows/x.yml", "org/lib/x.yml@v1", "./.gitea/workflows/sub/x.yml", "./.gitea/workflows/x.txt"]) {
    assert.throws(() => parseWorkflowUses(bad), /reusable workflow/, bad);
  }
});
