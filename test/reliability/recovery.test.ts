// Crash recovery from task spools against the emulator: leftover processes
// killed, spooled rows delivered from the stored ack, the task failed with
// the restart row, and the odd cases (task already done, connection gone,
// server away).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createForgejoClient, Result, type ForgejoClient, type Task } from "../../src/protocol/index.js";
import { TaskSpool, type SpoolMeta, type SpooledTaskState } from "../../src/daemon/spool.js";
import { RESTART_LINE, Redeliverer, recoverOrphans } from "../../src/daemon/recovery.js";
import { DeliveryLink } from "../../src/daemon/delivery.js";
import { JOB_MARKER_ENV, bootId, jobMarker, markedProcesses } from "../../src/daemon/job-marker.js";
import { silentLogger } from "../../src/observability/logger.js";
import { startEmulator } from "../emulator/index.js";
import { alive, setupEnv, waitUntil, workflow, type TestEnv } from "../daemon/harness.js";

const retry = { max_retries: 8, initial_delay: 20, max_delay: 200 };

async function takeTask(env: TestEnv, steps = "      - run: echo one\n      - run: echo two\n"): Promise<{ client: ForgejoClient; task: Task; jobId: number }> {
  const { jobId } = env.emu.enqueue({ workflow: workflow(steps) });
  const client = createForgejoClient({ baseUrl: env.emu.url, uuid: env.uuid, token: env.token });
  const res = await client.fetchTask(0n, { requestKey: "k-" + jobId, timeoutMs: 5000 });
  assert.ok(res.task, "a task was handed out");
  return { client, task: res.task, jobId };
}

function meta(task: Task, env: TestEnv, over: Partial<SpoolMeta> = {}): SpoolMeta {
  return {
    connection: "emu",
    taskId: String(task.id),
    repository: "alice/webapp",
    job: "job",
    stepCount: 2,
    startedAt: new Date().toISOString(),
    daemonPid: 999_999_999,
    marker: jobMarker(env.dir, `emu-${task.id}`),
    bootId: bootId(),
    ...over,
  };
}

const rows = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ({ time: new Date(), content: `${prefix}-${i}` }));

test("an interrupted job: leftovers killed, unsent rows delivered from the ack, failed with the restart row", async () => {
  const env = await setupEnv();
  const spoolRoot = join(env.dir, "spool");
  let leftover: ReturnType<typeof spawn> | undefined;
  try {
    const { client, task, jobId } = await takeTask(env);
    const m = meta(task, env);
    const spool = await TaskSpool.create(spoolRoot, `emu-${task.id}`, m);
    spool.append(rows(2, "setup"));
    spool.append(rows(300, "one"));
    spool.append(rows(200, "two"));
    spool.sync();
    // the old daemon had delivered the first 150 rows before it died
    const sent = spool.read(0, 150);
    const res = await client.updateLog({
      taskId: task.id, index: 0n, rows: sent.map((r) => ({ time: timestampFromDate(r.time), content: r.content })),
    });
    assert.equal(Number(res.ackIndex), 150);
    await spool.setAck(140); // the stored ack lags behind the server's: resending overlaps is fine
    const t = Date.now();
    const state: SpooledTaskState = {
      startedAt: t,
      steps: [
        { result: Result.SUCCESS, startedAt: t, stoppedAt: t, logIndex: 2, logLength: 300 },
        { result: Result.UNSPECIFIED, startedAt: t, logIndex: 302, logLength: 10 },
      ],
    };
    await spool.writeState(state);
    spool.close();

    // a process of the job, escaped into its own session, still running
    leftover = spawn("/bin/sh", ["-c", "sleep 600"], { detached: true, stdio: "ignore", env: { ...process.env, [JOB_MARKER_ENV]: m.marker! } });
    await waitUntil(async () => (await markedProcesses(m.marker!)).length > 0, 10_000, "marked process visible");

    const summary = await recoverOrphans({ spoolRoot, links: new Map([["emu", new DeliveryLink(client)]]), retry, log: silentLogger() });
    assert.deepEqual(summary, { recovered: [`emu-${task.id}`], dropped: [], kept: [], pending: [] });
    await waitUntil(() => !alive(leftover!.pid!), 10_000, "leftover killed");
    assert.equal(existsSync(join(spoolRoot, `emu-${task.id}`)), false, "spool removed");

    const job = env.emu.job(jobId)!;
    assert.equal(job.status, "done");
    assert.equal(job.result, "failure");
    assert.equal(job.logArchived, true);
    const expected = [...rows(2, "setup"), ...rows(300, "one"), ...rows(200, "two")].map((r) => r.content);
    assert.deepEqual(job.logRows, [...expected, RESTART_LINE]);
    assert.deepEqual(job.steps.map((s) => s.result), ["success", "failure"]);
    assert.equal(job.steps[1]!.logIndex, 302);
    assert.equal(job.steps[1]!.logLength, 201, "the running step's window reaches the restart row");
    // ordering: the no_more UpdateLog came before the final UpdateTask
    const reqs = env.emu.requests().filter((r) => r.rpc.endsWith("UpdateLog") || r.rpc.endsWith("UpdateTask"));
    assert.ok(reqs.at(-1)!.rpc.endsWith("UpdateTask"));
  } finally {
    if (leftover?.pid && alive(leftover.pid)) process.kill(leftover.pid, "SIGKILL");
    await env.close();
  }
});

test("a finished job whose final report never got through is delivered as it was (result and outputs)", async () => {
  const env = await setupEnv();
  const spoolRoot = join(env.dir, "spool");
  try {
    const { client, task, jobId } = await takeTask(env);
    const spool = await TaskSpool.create(spoolRoot, `emu-${task.id}`, meta(task, env));
    spool.append([...rows(3, "a"), { time: new Date(), content: "Job succeeded" }]);
    const t = Date.now();
    await spool.writeState({
      startedAt: t,
      steps: [
        { result: Result.SUCCESS, startedAt: t, stoppedAt: t, logIndex: 0, logLength: 2 },
        { result: Result.SUCCESS, startedAt: t, stoppedAt: t, logIndex: 2, logLength: 1 },
      ],
      final: { result: Result.SUCCESS, stoppedAt: t, outputs: { out: "value" } },
    } satisfies SpooledTaskState);
    spool.close();
    const summary = await recoverOrphans({ spoolRoot, links: new Map([["emu", new DeliveryLink(client)]]), retry, log: silentLogger() });
    assert.equal(summary.recovered.length, 1);
    const job = env.emu.job(jobId)!;
    assert.equal(job.result, "success");
    assert.deepEqual(job.outputs, { out: "value" });
    assert.deepEqual(job.logRows, ["a-0", "a-1", "a-2", "Job succeeded"]);
    assert.ok(!job.logRows.includes(RESTART_LINE));
  } finally {
    await env.close();
  }
});

test("a task the server already stopped (zombie cleanup, log archived) is cleaned up without error", async () => {
  const env = await setupEnv();
  const spoolRoot = join(env.dir, "spool");
  try {
    const { client, task, jobId } = await takeTask(env);
    const spool = await TaskSpool.create(spoolRoot, `emu-${task.id}`, meta(task, env));
    spool.append(rows(5, "x"));
    spool.close();
    env.emu.zombie(Number(task.id));
    const summary = await recoverOrphans({ spoolRoot, links: new Map([["emu", new DeliveryLink(client)]]), retry, log: silentLogger() });
    assert.deepEqual(summary.recovered, [`emu-${task.id}`]);
    assert.equal(existsSync(join(spoolRoot, `emu-${task.id}`)), false);
    assert.equal(env.emu.job(jobId)!.result, "failure");
  } finally {
    await env.close();
  }
});

test("an orphan whose connection is gone is kept; one whose server is away is retried until it comes back", async () => {
  const env = await setupEnv();
  const spoolRoot = join(env.dir, "spool");
  try {
    const { client, task, jobId } = await takeTask(env);
    const other = await TaskSpool.create(spoolRoot, "gone-7", { ...meta(task, env), connection: "gone", taskId: "7" });
    other.close();
    const spool = await TaskSpool.create(spoolRoot, `emu-${task.id}`, meta(task, env));
    spool.append(rows(50, "r"));
    spool.close();

    const port = env.emu.port;
    const snap = env.emu.snapshot();
    await env.emu.stop();
    const summary = await recoverOrphans({
      spoolRoot, links: new Map([["emu", new DeliveryLink(client)]]), retry: { max_retries: 2, initial_delay: 10, max_delay: 20 }, log: silentLogger(),
    });
    assert.deepEqual(summary.kept, ["gone-7"]);
    assert.deepEqual(summary.pending, [`emu-${task.id}`]);
    assert.ok(existsSync(join(spoolRoot, "gone-7")));

    const re = new Redeliverer({ links: new Map([["emu", new DeliveryLink(client)]]), retry: { max_retries: 2, initial_delay: 10, max_delay: 20 }, log: silentLogger(), maxDelayMs: 200 });
    re.add(join(spoolRoot, `emu-${task.id}`));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(re.size, 1, "still waiting for the server");
    const emu = await startEmulator({ port, state: snap });
    try {
      await emu.waitForJobDone(jobId, 30_000);
      await waitUntil(() => re.size === 0, 10_000, "redelivered");
      await re.stop();
      // The server's view once redelivery has finished (one CI run saw the job done with no rows in the view taken at that moment).
      const job = emu.job(jobId)!;
      assert.equal(job.result, "failure");
      assert.deepEqual(job.logRows, [...rows(50, "r").map((r) => r.content), RESTART_LINE]);
      assert.deepEqual(job.steps.map((s) => s.result), ["cancelled", "cancelled"]);
    } finally {
      await re.stop();
      await emu.stop();
    }
  } finally {
    await env.close();
  }
});

test("an orphan the server refuses from this runner (re-registered): retried within the budget, then given up", async () => {
  const env = await setupEnv();
  const spoolRoot = join(env.dir, "spool");
  try {
    const { task, jobId } = await takeTask(env);
    const reg = await createForgejoClient({ baseUrl: env.emu.url }).register({
      name: "other", token: env.emu.createRegistrationToken(), version: "t", labels: ["native"],
    });
    const other = createForgejoClient({ baseUrl: env.emu.url, uuid: reg.runner!.uuid, token: reg.runner!.token });
    const spool = await TaskSpool.create(spoolRoot, `emu-${task.id}`, meta(task, env));
    spool.append(rows(3, "z"));
    spool.close();
    // Forgejo answers `internal` for a task of another runner; Declare (no task involved) is answered.
    const link = new DeliveryLink(other, { checkRunner: () => other.declare("t", ["native"]) });
    const summary = await recoverOrphans({ spoolRoot, links: new Map([["emu", link]]), retry: { max_retries: 3, initial_delay: 10, max_delay: 50 }, log: silentLogger() });
    assert.deepEqual(summary.dropped, [`emu-${task.id}`]);
    assert.equal(existsSync(join(spoolRoot, `emu-${task.id}`)), false);
    const updates = env.emu.requests().filter((r) => r.rpc.endsWith("UpdateLog") && r.runnerUuid === reg.runner!.uuid);
    assert.equal(updates.length, 3, "retried max_retries times");
    assert.equal(env.emu.job(jobId)!.status, "running", "the other runner's task is left alone");
  } finally {
    await env.close();
  }
});
