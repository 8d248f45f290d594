// Tasks as Gitea 1.22 hands them over (test/e2e-gitea runs the real server):
// the context's `job` is the numeric job id, and a job calling a reusable
// workflow arrives unexpanded, with `uses:`/`with:`/`secrets:`. The daemon
// must still give github.job the job's key, github.workflow the workflow's
// name, and run the called workflow fetched from the server.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { makeRepo } from "../helpers/git-http-server.js";
import { startForge } from "../e2e/helpers.js";
import { setupEnv, startInProcess, type TestEnv } from "./harness.js";
import { createForgejoClient } from "../../src/protocol/index.js";

test("github.job is the job's key and github.workflow its name when the server sends the numeric job id and the file name", async () => {
  const env = await setupEnv({ emulator: { contextJob: "id" } });
  const daemon = startInProcess(env);
  try {
    const { jobId } = env.emu.enqueue({
      workflow: `name: Release pipeline\non: push\njobs:\n  build-it:\n    runs-on: native\n    steps:\n      - run: echo "job=$GITHUB_JOB/\${{ github.job }} workflow=$GITHUB_WORKFLOW/\${{ github.workflow }}"\n`,
      workflowFile: "release.yml",
    });
    const job = await env.emu.waitForJobDone(jobId, 30_000);
    assert.ok(job.logRows.includes("job=build-it/build-it workflow=Release pipeline/Release pipeline"), job.logRows.join("\n"));
  } finally {
    await daemon.shutdown();
    await env.close();
  }
});

test("a job calling a reusable workflow (local and owner/repo@ref) runs it: inputs, secrets inherit and masked, outputs to dependents, rows in the caller's log", async () => {
  const tmp = await mkdtemp(join("/tmp", "nr-call-e2e-"));
  const forge = await startForge(join(tmp, "git"));
  const client = createForgejoClient({ baseUrl: forge.emu.url });
  const reg = await client.register({ name: "t", token: forge.emu.createRegistrationToken(), version: "test", labels: ["native"] });
  const env: TestEnv = { emu: forge.emu, dir: tmp, uuid: reg.runner!.uuid, token: reg.runner!.token, close: async () => {} };
  const daemon = startInProcess(env, { capacity: 2 });
  try {
    await makeRepo(forge.gitRoot, "org/shared", {
      ".forgejo/workflows/greet.yml": `on:\n  workflow_call:\n    inputs:\n      who: { type: string, required: true }\n    outputs:\n      greeting: { value: "\${{ jobs.g.outputs.text }}" }\njobs:\n  g:\n    runs-on: native\n    outputs:\n      text: \${{ steps.s.outputs.text }}\n    steps:\n      - id: s\n        run: echo "text=hello-\${{ inputs.who }}" >> "$GITHUB_OUTPUT"\n`,
    }, { tags: ["v1"] });
    const caller = await makeRepo(forge.gitRoot, "alice/app", {
      ".forgejo/workflows/lib.yml": `on:\n  workflow_call:\n    inputs:\n      n: { type: number, default: 1 }\n    outputs:\n      sum: { value: "\${{ jobs.add.outputs.sum }}" }\njobs:\n  prep:\n    runs-on: native\n    steps:\n      - run: echo "prep job=$GITHUB_JOB"\n  add:\n    needs: prep\n    runs-on: native\n    outputs:\n      sum: \${{ steps.s.outputs.sum }}\n    steps:\n      - id: s\n        run: |\n          echo "sum=$(( \${{ inputs.n }} + 40 ))" >> "$GITHUB_OUTPUT"\n          echo "token=\${{ secrets.DEPLOY }}"\n`,
    });
    const workflow = `on: push\njobs:\n  local:\n    runs-on: native\n    uses: ./.forgejo/workflows/lib.yml\n    with:\n      n: \${{ fromJSON('2') }}\n    secrets: inherit\n  remote:\n    runs-on: native\n    uses: org/shared/.forgejo/workflows/greet.yml@v1\n    with:\n      who: world\n  skipped:\n    if: false\n    runs-on: native\n    uses: ./.forgejo/workflows/lib.yml\n  after:\n    needs: [local, remote]\n    runs-on: native\n    steps:\n      - run: echo "sum=\${{ needs.local.outputs.sum }} greeting=\${{ needs.remote.outputs.greeting }}"\n`;
    const run = forge.emu.enqueueRun({
      workflow,
      workflowFile: "ci.yml",
      repo: "alice/app",
      sha: caller.commit,
      ref: "refs/heads/main",
      context: forge.context,
      secrets: { DEPLOY: "deploy-secret-4711" },
    });
    const jobs = await forge.emu.waitForRunDone(run.runId, 60_000);
    const byKey = (k: string) => jobs.find((j) => j.jobKey === k)!;
    const all = jobs.map((j) => `${j.jobKey}: ${j.result}\n  ${j.logRows.join("\n  ")}`).join("\n");
    assert.equal(byKey("local").result, "success", all);
    assert.deepEqual(byKey("local").outputs, { sum: "42" });
    const local = byKey("local").logRows;
    assert.ok(local.includes("prep job=prep"), all);
    assert.ok(local.includes("token=***"), all);
    assert.ok(local.includes("Job local / add: success"), all);
    assert.ok(!all.includes("deploy-secret-4711"), all);
    assert.equal(byKey("remote").result, "success", all);
    assert.deepEqual(byKey("remote").outputs, { greeting: "hello-world" });
    assert.equal(byKey("skipped").result, "skipped", all);
    assert.equal(byKey("after").result, "success", all);
    assert.ok(byKey("after").logRows.includes("sum=42 greeting=hello-world"), all);
  } finally {
    await daemon.shutdown();
    await forge.close();
    await rm(tmp, { recursive: true, force: true });
  }
});
