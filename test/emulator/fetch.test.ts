import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { Result } from "../../src/protocol/gen/runner/v1/messages_pb.js";
import { type Emulator, startEmulator } from "./index.js";
import { SIMPLE_WORKFLOW, registerRunner, runnerClient } from "./test-helpers.js";

const PUSH_WORKFLOW = `name: ci
on:
  push:
    branches:
      - main
jobs:
  test:
    runs-on: docker
    steps:
      - uses: actions/checkout@v4
      - name: Unit tests
        run: npm ci && npm test
`;

// Spec §5.2: the payload of this workflow, base64 as Forgejo sends it.
const PUSH_PAYLOAD_B64 =
  "bmFtZTogY2kKIm9uIjoKICAgIHB1c2g6CiAgICAgICAgYnJhbmNoZXM6CiAgICAgICAgICAgIC0gbWFpbgpqb2JzOgogICAgdGVzdDoKICAgICAgICBuYW1lOiB0ZXN0CiAgICAgICAgcnVucy1vbjogZG9ja2VyCiAgICAgICAgc3RlcHM6CiAgICAgICAgICAgIC0gdXNlczogYWN0aW9ucy9jaGVja291dEB2NAogICAgICAgICAgICAtIG5hbWU6IFVuaXQgdGVzdHMKICAgICAgICAgICAgICBydW46IG5wbSBjaSAmJiBucG0gdGVzdAo=";

const RELEASE_WORKFLOW = `name: release
on:
  push:
    tags:
      - v*
jobs:
  build:
    runs-on: docker
    steps:
      - run: make
  publish:
    needs: [build, lint]
    runs-on: [self-hosted, linux]
    strategy:
      matrix:
        os: [linux]
        node: [20, 22]
    env:
      VERSION: \${{ needs.build.outputs.version }}
    outputs:
      url: \${{ steps.pub.outputs.url }}
    permissions: write-all
    steps:
      - id: pub
        name: Publish
        run: echo "publishing $VERSION"
`;

// Spec §5.3.
const RELEASE_PAYLOAD_B64 =
  "bmFtZTogcmVsZWFzZQoib24iOgogICAgcHVzaDoKICAgICAgICB0YWdzOgogICAgICAgICAgICAtIHYqCmpvYnM6CiAgICBwdWJsaXNoOgogICAgICAgIG5hbWU6IHB1Ymxpc2ggKDIwLCBsaW51eCkKICAgICAgICBydW5zLW9uOgogICAgICAgICAgICAtIHNlbGYtaG9zdGVkCiAgICAgICAgICAgIC0gbGludXgKICAgICAgICBlbnY6CiAgICAgICAgICAgIFZFUlNJT046ICR7eyBuZWVkcy5idWlsZC5vdXRwdXRzLnZlcnNpb24gfX0KICAgICAgICBzdGVwczoKICAgICAgICAgICAgLSBpZDogcHViCiAgICAgICAgICAgICAgbmFtZTogUHVibGlzaAogICAgICAgICAgICAgIHJ1bjogZWNobyAicHVibGlzaGluZyAkVkVSU0lPTiIKICAgICAgICBzdHJhdGVneToKICAgICAgICAgICAgbWF0cml4OgogICAgICAgICAgICAgICAgbm9kZToKICAgICAgICAgICAgICAgICAgICAtIDIwCiAgICAgICAgICAgICAgICBvczoKICAgICAgICAgICAgICAgICAgICAtIGxpbnV4CiAgICAgICAgb3V0cHV0czoKICAgICAgICAgICAgdXJsOiAke3sgc3RlcHMucHViLm91dHB1dHMudXJsIH19Cg==";

describe("FetchTask", () => {
  let emu: Emulator;
  before(async () => {
    emu = await startEmulator();
  });
  after(() => emu.stop());

  it("hands out the spec's payload, context, secrets and vars", async () => {
    const creds = await registerRunner(emu, { labels: ["docker", "native"], repo: "alice/webapp" });
    const { jobId } = emu.enqueue({
      workflow: PUSH_WORKFLOW,
      repo: "alice/webapp",
      secrets: { NPM_TOKEN: "npm_s3cr3t" },
      vars: { NODE_ENV: "test" },
    });
    const res = await runnerClient(emu, { creds }).fetchTask({ tasksVersion: 0n });
    const task = res.task!;
    assert.ok(res.tasksVersion > 0n);
    assert.equal(Buffer.from(task.workflowPayload!).toString("base64"), PUSH_PAYLOAD_B64);
    const view = emu.job(jobId)!;
    assert.equal(Number(task.id), view.taskId);
    assert.equal(view.status, "running");
    const ctx = task.context as Record<string, unknown>;
    const token = ctx.token as string;
    assert.match(token, /^[0-9a-f]{40}$/);
    assert.deepEqual(task.secrets, { NPM_TOKEN: "npm_s3cr3t", GITHUB_TOKEN: token, GITEA_TOKEN: token, FORGEJO_TOKEN: token });
    assert.deepEqual(task.vars, { NODE_ENV: "test" });
    assert.equal(ctx.server_url, emu.url);
    assert.equal(ctx.api_url, `${emu.url}api/v1`);
    assert.equal(ctx.repositoryUrl, `${emu.url}alice/webapp`);
    assert.equal(ctx.repository, "alice/webapp");
    assert.equal(ctx.repository_owner, "alice");
    assert.equal(ctx.job, "test");
    assert.equal(ctx.workflow, "ci.yml");
    assert.equal(ctx.workflow_ref, "alice/webapp/.forgejo/workflows/ci.yml@refs/heads/main");
    assert.equal(ctx.ref_name, "main");
    assert.equal(ctx.ref_type, "branch");
    assert.equal(ctx.ref_protected, false);
    assert.equal(ctx.event_name, "push");
    assert.equal(ctx.retention_days, "");
    assert.equal(ctx.run_attempt, "1");
    assert.equal(ctx.secret_source, "Actions");
    assert.equal(typeof ctx.event, "object");
    assert.equal((ctx.event as { after: string }).after, ctx.sha);
    assert.equal(ctx.gitea_default_actions_url, "https://data.forgejo.org");
    assert.equal(ctx.forgejo_default_actions_url, "https://data.forgejo.org");
    assert.equal(ctx.gitea_runtime_token, ctx.forgejo_runtime_token);
    const claims = emu.verifyRuntimeToken(ctx.gitea_runtime_token as string)!;
    assert.equal(claims.TaskID, Number(task.id));
    assert.equal(claims.scp, `Actions.Results:${ctx.run_id}:${jobId}`);
    assert.equal(emu.verifyRuntimeToken(`${ctx.gitea_runtime_token as string}x`), undefined);
    assert.ok(emu.isTaskTokenValid(token));
    assert.equal(task.needs && Object.keys(task.needs).length, 0);
  });

  it("expands one matrix combination, erases needs and passes needs/outputs", async () => {
    const creds = await registerRunner(emu, { labels: ["self-hosted", "linux"], repo: "alice/rel" });
    const { jobId } = emu.enqueue({
      workflow: RELEASE_WORKFLOW,
      job: "publish",
      repo: "alice/rel",
      matrix: { node: 20, os: "linux" },
      needs: { build: { result: "success", outputs: { version: "1.4.0" } } },
    });
    const task = (await runnerClient(emu, { creds, json: true }).fetchTask({ tasksVersion: 0n })).task!;
    assert.equal(Buffer.from(task.workflowPayload!).toString("base64"), RELEASE_PAYLOAD_B64);
    assert.equal(emu.job(jobId)!.name, "publish (20, linux)");
    assert.equal(task.needs.build!.result, Result.SUCCESS);
    assert.deepEqual(task.needs.build!.outputs, { version: "1.4.0" });
    assert.equal(task.needs.lint!.result, Result.SUCCESS, "every needed job is a key");
  });

  it("enqueues every combination when no matrix is given", () => {
    const r = emu.enqueue({ workflow: RELEASE_WORKFLOW, job: "publish", repo: "alice/nomatch" });
    assert.equal(r.jobIds.length, 2);
    assert.deepEqual(r.jobIds.map((id) => emu.job(id)!.name), ["publish (20, linux)", "publish (22, linux)"]);
  });

  it("matches labels: every runs-on label must be among the runner's; no labels gets nothing", async () => {
    const repo = `o/labels-${randomUUID().slice(0, 8)}`;
    const { jobId } = emu.enqueue({ workflow: SIMPLE_WORKFLOW("[native, big]"), repo });
    const partial = await registerRunner(emu, { labels: ["native"], repo });
    const none = await registerRunner(emu, { labels: [], repo });
    const full = await registerRunner(emu, { labels: ["big", "native", "extra"], repo });
    assert.equal((await runnerClient(emu, { creds: partial }).fetchTask({ tasksVersion: 0n })).task, undefined);
    assert.equal((await runnerClient(emu, { creds: none }).fetchTask({ tasksVersion: 0n })).task, undefined);
    const got = await runnerClient(emu, { creds: full }).fetchTask({ tasksVersion: 0n });
    assert.equal(Number(got.task!.id), emu.job(jobId)!.taskId);
    assert.deepEqual(emu.job(jobId)!.runsOn, ["native", "big"]);
  });

  it("respects runner scope: repo, owner, instance", async () => {
    const tag = randomUUID().slice(0, 8);
    const label = `scope-${tag}`;
    const { jobId } = emu.enqueue({ workflow: SIMPLE_WORKFLOW(label), repo: `own-${tag}/app` });
    const otherRepo = await registerRunner(emu, { labels: [label], repo: `own-${tag}/other` });
    const otherOwner = await registerRunner(emu, { labels: [label], owner: `else-${tag}` });
    const owner = await registerRunner(emu, { labels: [label], owner: `own-${tag}` });
    assert.equal((await runnerClient(emu, { creds: otherRepo }).fetchTask({ tasksVersion: 0n })).task, undefined);
    assert.equal((await runnerClient(emu, { creds: otherOwner }).fetchTask({ tasksVersion: 0n })).task, undefined);
    const got = await runnerClient(emu, { creds: owner }).fetchTask({ tasksVersion: 0n });
    assert.equal(Number(got.task!.id), emu.job(jobId)!.taskId);
  });

  it("follows the tasks_version contract", async () => {
    const tag = randomUUID().slice(0, 8);
    const repo = `tv-${tag}/app`;
    const creds = await registerRunner(emu, { labels: ["other"], repo });
    const client = runnerClient(emu, { creds });
    // First fetch of a fresh scope: the counter goes 0 -> 1, never answered as 0.
    const first = await client.fetchTask({ tasksVersion: 0n });
    assert.equal(first.tasksVersion, 1n);
    assert.equal(first.task, undefined);
    const same = await client.fetchTask({ tasksVersion: first.tasksVersion });
    assert.equal(same.tasksVersion, 1n);

    emu.enqueue({ workflow: SIMPLE_WORKFLOW(`lbl-${tag}`), repo });
    const v = emu.tasksVersion({ repo });
    assert.equal(v, 2);
    const after1 = await client.fetchTask({ tasksVersion: 1n });
    assert.equal(after1.tasksVersion, 2n);
    assert.equal(after1.task, undefined, "labels do not match yet");

    await client.declare({ version: "1", labels: [`lbl-${tag}`] });
    const skipped = await client.fetchTask({ tasksVersion: 2n });
    assert.equal(skipped.task, undefined, "equal version skips the scan");
    const rescanned = await client.fetchTask({ tasksVersion: 0n });
    assert.ok(rescanned.task, "version 0 forces a scan");
  });

  it("picks by priority desc, then oldest first", async () => {
    const tag = randomUUID().slice(0, 8);
    const repo = `prio-${tag}/app`;
    const label = `prio-${tag}`;
    const a = emu.enqueue({ workflow: SIMPLE_WORKFLOW(label), repo });
    const b = emu.enqueue({ workflow: SIMPLE_WORKFLOW(label), repo, priority: 5 });
    const c = emu.enqueue({ workflow: SIMPLE_WORKFLOW(label), repo });
    const creds = await registerRunner(emu, { labels: [label], repo });
    const client = runnerClient(emu, { creds });
    const order: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = (await client.fetchTask({ tasksVersion: 0n })).task!;
      order.push(emu.task(Number(t.id))!.jobId);
    }
    assert.deepEqual(order, [b.jobId, a.jobId, c.jobId]);
    assert.equal((await client.fetchTask({ tasksVersion: 0n })).task, undefined);
  });

  it("gives several tasks with task_capacity over JSON, and an ephemeral runner at most one", async () => {
    const tag = randomUUID().slice(0, 8);
    const repo = `cap-${tag}/app`;
    const label = `cap-${tag}`;
    for (let i = 0; i < 4; i++) emu.enqueue({ workflow: SIMPLE_WORKFLOW(label), repo });
    const creds = await registerRunner(emu, { labels: [label], repo });
    const res = await runnerClient(emu, { creds, json: true }).fetchTask({ tasksVersion: 0n, taskCapacity: 3n });
    assert.ok(res.task);
    assert.equal(res.additionalTasks.length, 2);
    const eph = await registerRunner(emu, { labels: [label], repo, ephemeral: true });
    const ec = runnerClient(emu, { creds: eph, json: true });
    const r1 = await ec.fetchTask({ tasksVersion: 0n, taskCapacity: 3n });
    assert.ok(r1.task);
    assert.equal(r1.additionalTasks.length, 0);
    emu.enqueue({ workflow: SIMPLE_WORKFLOW(label), repo });
    assert.equal((await ec.fetchTask({ tasksVersion: 0n })).task, undefined);
  });

  it("recovers tasks by request key with new tokens and tasks_version 0", async () => {
    const tag = randomUUID().slice(0, 8);
    const repo = `rk-${tag}/app`;
    const label = `rk-${tag}`;
    emu.enqueue({ workflow: SIMPLE_WORKFLOW(label), repo });
    const creds = await registerRunner(emu, { labels: [label], repo });
    const key = randomUUID();
    const first = await runnerClient(emu, { creds, requestKey: key }).fetchTask({ tasksVersion: 0n });
    const oldToken = (first.task!.context as { token: string }).token;
    assert.ok(emu.isTaskTokenValid(oldToken));
    const again = await runnerClient(emu, { creds, requestKey: key }).fetchTask({ tasksVersion: 5n });
    assert.equal(again.task!.id, first.task!.id);
    assert.equal(again.tasksVersion, 0n);
    const newToken = (again.task!.context as { token: string }).token;
    assert.notEqual(newToken, oldToken);
    assert.equal(again.task!.secrets.GITHUB_TOKEN, newToken);
    assert.equal(emu.isTaskTokenValid(oldToken), false);
    assert.ok(emu.isTaskTokenValid(newToken));
    assert.equal(emu.task(Number(first.task!.id))!.deliveries, 2);
    // Another runner with the same key gets nothing of it.
    const other = await registerRunner(emu, { labels: ["zzz"], repo });
    assert.equal((await runnerClient(emu, { creds: other, requestKey: key }).fetchTask({ tasksVersion: 0n })).task, undefined);
  });

  it("FetchSingleTask honours the handle and refuses to recover several tasks", async () => {
    const tag = randomUUID().slice(0, 8);
    const repo = `single-${tag}/app`;
    const label = `single-${tag}`;
    emu.enqueue({ workflow: SIMPLE_WORKFLOW(label), repo });
    const second = emu.enqueue({ workflow: SIMPLE_WORKFLOW(label), repo });
    const creds = await registerRunner(emu, { labels: [label], repo });
    const client = runnerClient(emu, { creds, json: true });
    assert.equal((await client.fetchSingleTask({ tasksVersion: 0n, handle: randomUUID() })).task, undefined);
    const got = await client.fetchSingleTask({ tasksVersion: 0n, handle: emu.job(second.jobId)!.handle });
    assert.equal(emu.task(Number(got.task!.id))!.jobId, second.jobId);

    const key = randomUUID();
    emu.enqueue({ workflow: SIMPLE_WORKFLOW(label), repo });
    await runnerClient(emu, { creds, json: true, requestKey: key }).fetchTask({ tasksVersion: 0n, taskCapacity: 2n });
    try {
      await runnerClient(emu, { creds, json: true, requestKey: key }).fetchSingleTask({ tasksVersion: 0n });
      assert.fail("expected an error");
    } catch (err) {
      const e = ConnectError.from(err);
      assert.equal(e.code, Code.Internal);
      assert.equal(e.rawMessage, "cannot recover 2 tasks because runner requested only one");
    }
  });

  it("derives pull request refs and withholds secrets from fork pull requests", async () => {
    const label = `pr-${randomUUID().slice(0, 8)}`;
    const creds = await registerRunner(emu, { labels: [label] });
    const pr = (headRepo: string) => ({
      number: 7,
      pull_request: {
        number: 7,
        head: { ref: "feature", sha: "a".repeat(40), repo: { full_name: headRepo } },
        base: { ref: "main", sha: "b".repeat(40), repo: { full_name: "alice/webapp" } },
      },
    });
    const client = runnerClient(emu, { creds });
    const cases = [
      ["pull_request", "alice/webapp", "refs/pull/7/head", "a", true],
      ["pull_request", "mallory/webapp", "refs/pull/7/head", "a", false],
      ["pull_request_target", "mallory/webapp", "refs/heads/main", "b", true],
    ] as const;
    for (const [event, headRepo, ref, shaChar, withSecrets] of cases) {
      emu.enqueue({ workflow: SIMPLE_WORKFLOW(label), event, eventPayload: pr(headRepo), secrets: { S: "v" } });
      const task = (await client.fetchTask({ tasksVersion: 0n })).task!;
      const ctx = task.context as Record<string, unknown>;
      assert.equal(ctx.event_name, event);
      assert.equal(ctx.ref, ref, event);
      assert.equal(ctx.sha, shaChar.repeat(40));
      assert.equal(ctx.head_ref, "feature");
      assert.equal(ctx.base_ref, "main");
      assert.equal("S" in task.secrets, withSecrets, `${event} from ${headRepo}`);
      assert.equal(task.secrets.GITHUB_TOKEN, ctx.token);
    }
  });

  it("hands out a raw (malformed) payload verbatim", async () => {
    const label = `raw-${randomUUID().slice(0, 8)}`;
    const creds = await registerRunner(emu, { labels: [label] });
    const payload = "jobs: [this is: not, a workflow";
    const { jobId } = emu.enqueue({ payload, runsOn: [label] });
    const task = (await runnerClient(emu, { creds }).fetchTask({ tasksVersion: 0n })).task!;
    assert.equal(Buffer.from(task.workflowPayload!).toString(), payload);
    assert.equal(emu.job(jobId)!.steps.length, 0);
    assert.ok(emu.job(jobId)!.pickedAt >= emu.job(jobId)!.enqueuedAt);
    assert.throws(() => emu.enqueue({}), /workflow or a payload/);
  });

  it("can omit the forgejo_ context keys or both sets", async () => {
    for (const [keys, present, absent] of [
      ["gitea", ["gitea_default_actions_url", "gitea_runtime_token"], ["forgejo_default_actions_url", "forgejo_runtime_token"]],
      ["none", [], ["gitea_default_actions_url", "forgejo_default_actions_url", "gitea_runtime_token"]],
    ] as const) {
      const e = await startEmulator({ actionsUrlKeys: keys, defaultActionsUrl: "https://code.example/" });
      try {
        const creds = await registerRunner(e, { labels: ["native"] });
        e.enqueue({ workflow: SIMPLE_WORKFLOW(), context: { actor: "bob", event_path: null } });
        const ctx = (await runnerClient(e, { creds }).fetchTask({ tasksVersion: 0n })).task!.context!;
        for (const k of present) assert.ok(k in ctx, k);
        for (const k of absent) assert.ok(!(k in ctx), k);
        if (keys === "gitea") assert.equal(ctx.gitea_default_actions_url, "https://code.example");
        assert.equal(ctx.actor, "bob");
        assert.ok(!("event_path" in ctx));
      } finally {
        await e.stop();
      }
    }
  });
});
