import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { LogRowSchema, Result } from "../../src/protocol/gen/runner/v1/messages_pb.js";
import { type Emulator, startEmulator } from "./index.js";
import { type Creds, type RunnerClient, SIMPLE_WORKFLOW, registerRunner, runnerClient } from "./test-helpers.js";

async function connectError(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  assert.fail("expected a Connect error");
}

const rows = (...contents: string[]) => contents.map((content, i) => create(LogRowSchema, { content, time: timestampFromMs(1_767_225_600_000 + i) }));

describe("UpdateTask and UpdateLog", () => {
  let emu: Emulator;
  before(async () => {
    emu = await startEmulator();
  });
  after(() => emu.stop());

  async function running(opts: { ephemeral?: boolean; json?: boolean } = {}): Promise<{
    client: RunnerClient;
    creds: Creds;
    taskId: bigint;
    jobId: number;
    token: string;
  }> {
    const label = `u-${randomUUID().slice(0, 8)}`;
    const { jobId } = emu.enqueue({ workflow: SIMPLE_WORKFLOW(label, 3) });
    const creds = await registerRunner(emu, { labels: [label], ephemeral: opts.ephemeral });
    const client = runnerClient(emu, { creds, json: opts.json });
    const task = (await client.fetchTask({ tasksVersion: 0n })).task!;
    return { client, creds, taskId: task.id, jobId, token: (task.context as { token: string }).token };
  }

  it("acks logs, ignores gaps, de-duplicates overlap, archives on no_more", async () => {
    for (const json of [false, true]) {
      const { client, taskId, jobId } = await running({ json });
      assert.equal((await client.updateLog({ taskId, index: 0n, rows: rows("a", "b") })).ackIndex, 2n);
      assert.equal((await client.updateLog({ taskId, index: 5n, rows: rows("gap") })).ackIndex, 2n, "gap ignored");
      assert.equal((await client.updateLog({ taskId, index: 0n, rows: rows("a", "b") })).ackIndex, 2n, "resend ignored");
      assert.equal((await client.updateLog({ taskId, index: 1n, rows: rows("b", "c", "d") })).ackIndex, 4n, "overlap");
      assert.equal((await client.updateLog({ taskId, index: 4n, rows: [] , noMore: true})).ackIndex, 4n, "empty no_more");
      assert.equal(emu.job(jobId)!.logArchived, false, "no_more without rows does nothing");
      assert.equal((await client.updateLog({ taskId, index: 4n, rows: rows("e"), noMore: true })).ackIndex, 5n);
      const view = emu.job(jobId)!;
      assert.deepEqual(view.logRows, ["a", "b", "c", "d", "e"]);
      assert.equal(view.logArchived, true);
      assert.match(view.task!.logTimes[0]!, /^2026-01-01T00:00:00\.0000000Z$/);
      const err = await connectError(client.updateLog({ taskId, index: 5n, rows: rows("late") }));
      assert.equal(err.code, Code.AlreadyExists);
      assert.equal(err.rawMessage, "log file has been archived");
      assert.equal((await client.updateLog({ taskId, index: 0n, rows: rows("a") })).ackIndex, 5n, "old rows still ack");
    }
  });

  it("copies steps by index, stores outputs first-write-wins within size limits, finishes", async () => {
    const { client, taskId, jobId, token } = await running();
    const started = timestampFromMs(Date.now());
    let res = await client.updateTask({
      state: {
        id: taskId,
        steps: [
          { id: 0n, result: Result.SUCCESS, logIndex: 1n, logLength: 2n, startedAt: started, stoppedAt: started },
          { id: 1n, startedAt: started, logIndex: 3n },
          { id: 7n, result: Result.FAILURE },
        ],
      },
      outputs: { a: "1", ["k".repeat(256)]: "too long key", big: "x".repeat(1024 * 1024 + 1), ok: "x".repeat(1024 * 1024) },
    });
    assert.equal(res.state!.id, taskId);
    assert.equal(res.state!.result, Result.UNSPECIFIED);
    assert.deepEqual(res.sentOutputs, ["a", "ok"]);
    let view = emu.job(jobId)!;
    assert.deepEqual(
      view.steps.map((s) => [s.status, s.logIndex, s.logLength]),
      [["success", 1, 2], ["running", 3, 0], ["waiting", 0, 0]],
    );
    res = await client.updateTask({ state: { id: taskId }, outputs: { a: "2", b: "3" } });
    assert.deepEqual(res.sentOutputs, ["a", "ok", "b"]);
    assert.equal(emu.job(jobId)!.outputs.a, "1");

    const versionBefore = emu.tasksVersion();
    res = await client.updateTask({
      state: { id: taskId, result: Result.FAILURE, stoppedAt: timestampFromMs(1_767_225_600_000) },
    });
    assert.equal(res.state!.result, Result.FAILURE);
    assert.equal(emu.tasksVersion(), versionBefore + 1, "a final UpdateTask bumps tasks_version");
    view = await emu.waitForJobDone(jobId, 1000);
    assert.equal(view.result, "failure");
    assert.equal(view.task!.stoppedAt, "2026-01-01T00:00:00.000Z");
    assert.equal(emu.isTaskTokenValid(token), false, "token dies with the task");
    // A done task does not change any more, but outputs are still accepted.
    res = await client.updateTask({ state: { id: taskId, result: Result.SUCCESS }, outputs: { late: "v" } });
    assert.equal(res.state!.result, Result.FAILURE);
    assert.ok(res.sentOutputs.includes("late"));
    assert.equal(emu.job(jobId)!.result, "failure");
  });

  it("signals a user cancel as RESULT_CANCELLED on the next UpdateTask", async () => {
    const { client, taskId, jobId, token } = await running();
    emu.cancel(jobId);
    assert.equal(emu.isTaskTokenValid(token), false);
    const res = await client.updateTask({ state: { id: taskId } });
    assert.equal(res.state!.result, Result.CANCELLED);
    // Logs are still accepted after a user cancel (not archived).
    assert.equal((await client.updateLog({ taskId, index: 0n, rows: rows("x"), noMore: true })).ackIndex, 1n);
    assert.equal(emu.job(jobId)!.result, "cancelled");
  });

  it("re-runs a finished job as a new attempt with a new task", async () => {
    const { client, jobId, taskId } = await running();
    await client.updateTask({ state: { id: taskId, result: Result.FAILURE, stoppedAt: timestampFromMs(Date.now()) } });
    const firstHandle = emu.job(jobId)!.handle;
    emu.rerun(jobId);
    const view = emu.job(jobId)!;
    assert.equal(view.status, "waiting");
    assert.equal(view.attempt, 2);
    assert.notEqual(view.handle, firstHandle);
    const task = (await client.fetchTask({ tasksVersion: 0n })).task!;
    assert.notEqual(task.id, taskId);
    assert.equal((task.context as { run_attempt: string }).run_attempt, "2");
    assert.equal(emu.task(Number(taskId))!.result, "failure", "the first attempt stays as it was");
    assert.throws(() => emu.rerun(jobId), /not done/);
  });

  it("runs a whole workflow: needs block, pass results and outputs, skip after a failure", async () => {
    const label = `run-${randomUUID().slice(0, 8)}`;
    const wf = `on: push
jobs:
  build:
    runs-on: ${label}
    strategy:
      matrix:
        n: [1, 2]
    outputs:
      v: \${{ steps.s.outputs.v }}
    steps: [{id: s, run: echo}]
  lint:
    runs-on: ${label}
    steps: [{run: "false"}]
  test:
    needs: build
    runs-on: ${label}
    steps: [{run: echo}]
  report:
    needs: [lint]
    runs-on: ${label}
    steps: [{run: echo}]
  notify:
    needs: [lint, test]
    if: always()
    runs-on: ${label}
    steps: [{run: echo}]
`;
    const { runId, jobIds } = emu.enqueueRun({ workflow: wf });
    const byName = () => Object.fromEntries(emu.jobs().filter((j) => j.runId === runId).map((j) => [j.name, j]));
    assert.equal(jobIds.length, 6);
    assert.deepEqual(
      Object.entries(byName()).map(([n, j]) => [n, j.status]),
      [["build (1)", "waiting"], ["build (2)", "waiting"], ["lint", "waiting"], ["test", "blocked"], ["report", "blocked"], ["notify", "blocked"]],
    );
    const creds = await registerRunner(emu, { labels: [label] });
    const client = runnerClient(emu, { creds, json: true });
    const finish = async (task: { id: bigint }, result: Result, outputs: Record<string, string> = {}) =>
      client.updateTask({ state: { id: task.id, result, stoppedAt: timestampFromMs(Date.now()) }, outputs });
    const first = await client.fetchTask({ tasksVersion: 0n, taskCapacity: 3n });
    const [b1, b2, lint] = [first.task!, ...first.additionalTasks];
    await finish(b1!, Result.SUCCESS, { v: "one" });
    assert.equal(byName().test!.status, "blocked", "still needs the other build instance");
    await finish(b2!, Result.SUCCESS, { v: "", w: "two" });
    assert.equal(byName().test!.status, "waiting");
    await finish(lint!, Result.FAILURE);
    assert.equal(byName().report!.status, "done");
    assert.equal(byName().report!.result, "skipped", "a failed need skips a job without if:");
    assert.equal(byName().notify!.status, "blocked", "still needs test");

    const testTask = (await client.fetchTask({ tasksVersion: 0n })).task!;
    assert.equal(testTask.needs.build!.result, Result.SUCCESS);
    assert.deepEqual(testTask.needs.build!.outputs, { v: "one", w: "two" });
    await finish(testTask, Result.SUCCESS);
    const notifyTask = (await client.fetchTask({ tasksVersion: 0n })).task!;
    assert.equal(notifyTask.needs.lint!.result, Result.FAILURE);
    assert.equal(notifyTask.needs.test!.result, Result.SUCCESS);
    assert.doesNotMatch(Buffer.from(notifyTask.workflowPayload!).toString(), /needs/);
    await finish(notifyTask, Result.SUCCESS);
    const done = await emu.waitForRunDone(runId, 1000);
    assert.deepEqual(done.map((j) => j.result), ["success", "success", "failure", "success", "skipped", "success"]);
  });

  it("signals a zombie as RESULT_FAILURE and refuses further logs", async () => {
    const { client, taskId, jobId } = await running();
    await client.updateLog({ taskId, index: 0n, rows: rows("a") });
    emu.zombie(Number(taskId));
    const res = await client.updateTask({ state: { id: taskId } });
    assert.equal(res.state!.result, Result.FAILURE);
    assert.equal(emu.job(jobId)!.logArchived, true);
    const err = await connectError(client.updateLog({ taskId, index: 1n, rows: rows("b") }));
    assert.equal(err.code, Code.AlreadyExists);
  });

  it("reaps zombies automatically when zombieTimeoutMs is set", async () => {
    const e = await startEmulator({ zombieTimeoutMs: 200 });
    try {
      const creds = await registerRunner(e, { labels: ["native"] });
      const { jobId } = e.enqueue({ workflow: SIMPLE_WORKFLOW() });
      await runnerClient(e, { creds }).fetchTask({ tasksVersion: 0n });
      const view = await e.waitForJobDone(jobId, 5000);
      assert.equal(view.result, "failure");
      assert.equal(view.logArchived, true);
    } finally {
      await e.stop();
    }
  });

  it("deletes an ephemeral runner on its final UpdateTask, after its final log", async () => {
    const { client, taskId, creds } = await running({ ephemeral: true });
    await client.updateLog({ taskId, index: 0n, rows: rows("done"), noMore: true });
    await client.updateTask({ state: { id: taskId } });
    assert.equal(emu.runners().find((r) => r.uuid === creds.uuid)!.deleted, false);
    await client.updateTask({ state: { id: taskId, result: Result.SUCCESS, stoppedAt: timestampFromMs(Date.now()) } });
    assert.equal(emu.runners().find((r) => r.uuid === creds.uuid)!.deleted, true);
    const err = await connectError(client.updateTask({ state: { id: taskId } }));
    assert.equal(err.code, Code.Unauthenticated);
  });

  it("deletes an ephemeral runner when its task is stopped by a cancel", async () => {
    const { client, jobId, creds } = await running({ ephemeral: true });
    emu.cancel(jobId);
    assert.equal(emu.runners().find((r) => r.uuid === creds.uuid)!.deleted, true);
    const err = await connectError(client.declare({ version: "1", labels: [] }));
    assert.equal(err.code, Code.Unauthenticated);
  });

  it("refuses another runner's task with internal", async () => {
    const { taskId } = await running();
    const other = await registerRunner(emu, { labels: ["nothing"] });
    const client = runnerClient(emu, { creds: other });
    let err = await connectError(client.updateTask({ state: { id: taskId } }));
    assert.equal(err.code, Code.Internal);
    assert.equal(err.rawMessage, "update task: invalid runner for task");
    err = await connectError(client.updateLog({ taskId, index: 0n, rows: rows("x") }));
    assert.equal(err.code, Code.Internal);
    assert.equal(err.rawMessage, "invalid runner for task");
    const runnerView = emu.runners().find((r) => r.uuid === other.uuid)!;
    assert.ok(runnerView.lastActive, "UpdateTask/UpdateLog mark the runner active");
  });
});
