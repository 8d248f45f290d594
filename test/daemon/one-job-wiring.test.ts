// one-job is wired like the daemon: a task an earlier process left in the
// spool is reported before one-job fetches, and its own task is journaled.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { readdir } from "node:fs/promises";
import { createForgejoClient, Result } from "../../src/protocol/index.js";
import { TaskSpool, type SpooledTaskState } from "../../src/daemon/spool.js";
import { bootId, jobMarker } from "../../src/daemon/job-marker.js";
import { startOneJob } from "../../src/daemon/index.js";
import { labelNames } from "../../src/config/index.js";
import { PlainBackend } from "../../src/host/plain-backend.js";
import { silentLogger } from "../../src/observability/logger.js";
import { daemonConfig, runJob, setupEnv, startCli, workflow } from "./harness.js";

test("one-job delivers an orphaned spool before it fetches, and removes its own spool once reported", async () => {
  const env = await setupEnv();
  try {
    const config = daemonConfig(env);
    const spoolRoot = join(config.state_dir, "spool");
    // A task an earlier process took and finished, whose final report never got through.
    const orphan = env.emu.enqueue({ workflow: workflow("      - run: echo one\n") });
    const client = createForgejoClient({ baseUrl: env.emu.url, uuid: env.uuid, token: env.token });
    const res = await client.fetchTask(0n, { requestKey: "orphan", timeoutMs: 5000 });
    const task = res.task!;
    const spool = await TaskSpool.create(spoolRoot, `emu-${task.id}`, {
      connection: "emu", taskId: String(task.id), repository: "alice/webapp", job: "job", stepCount: 1,
      startedAt: new Date().toISOString(), daemonPid: 999_999_999, marker: jobMarker(config.state_dir, `emu-${task.id}`), bootId: bootId(),
    });
    spool.append([{ time: new Date(), content: "from-the-earlier-run" }]);
    const t = Date.now();
    await spool.writeState({
      startedAt: t,
      steps: [{ result: Result.SUCCESS, startedAt: t, stoppedAt: t, logIndex: 0, logLength: 1 }],
      final: { result: Result.SUCCESS, stoppedAt: t, outputs: {} },
    } satisfies SpooledTaskState);
    spool.close();

    const next = env.emu.enqueue({ workflow: workflow("      - run: echo now\n") });
    const job = startOneJob({
      config, connections: config.server.connections, host: new PlainBackend(join(env.dir, "work")), log: silentLogger(),
      version: "test", runJob, labelNames: (c) => labelNames(c.labels), wait: false,
    });
    assert.equal(await job.done, 0);
    assert.equal(env.emu.job(orphan.jobId)!.result, "success");
    assert.ok(env.emu.job(orphan.jobId)!.logRows.includes("from-the-earlier-run"));
    assert.equal(env.emu.job(next.jobId)!.result, "success");
    // Recovery came first: the orphan's final report precedes the fetch of the new task.
    const rpcs = env.emu.requests().map((r) => r.rpc.split("/").pop());
    assert.ok(rpcs.indexOf("UpdateTask") < rpcs.lastIndexOf("FetchTask"), rpcs.join(" "));
    assert.deepEqual(existsSync(spoolRoot) ? await readdir(spoolRoot) : [], []);
  } finally {
    await env.close();
  }
});

test("one-job retries its reports with backoff, and what an outage kept in the spool the next start delivers", async () => {
  const env = await setupEnv();
  try {
    const config = daemonConfig(env);
    config.runner.report_retry = { max_retries: 3, initial_delay: 10, max_delay: 50 };
    const spoolRoot = join(config.state_dir, "spool");
    const start = () => startOneJob({
      config, connections: config.server.connections, host: new PlainBackend(join(env.dir, "work")), log: silentLogger(),
      version: "test", runJob, labelNames: (c) => labelNames(c.labels), wait: false,
    });

    // A short outage: the backoff gets through it.
    const first = env.emu.enqueue({ workflow: workflow("      - run: echo first\n") });
    env.emu.faults.add({ rpc: "UpdateTask", kind: "http5xx", count: 2 });
    assert.equal(await start().done, 0);
    assert.equal(env.emu.job(first.jobId)!.result, "success");
    env.emu.faults.clear();

    // An outage longer than the retries: the report stays in the spool, one-job says so.
    const second = env.emu.enqueue({ workflow: workflow("      - run: echo second\n") });
    for (const rpc of ["UpdateLog", "UpdateTask"]) env.emu.faults.add({ rpc, kind: "http5xx" });
    assert.equal(await start().done, 1);
    assert.equal(env.emu.job(second.jobId)!.status, "running");
    assert.equal((await readdir(spoolRoot)).length, 1);

    // The server is back: the next one-job process delivers it before it fetches (and finds no task).
    env.emu.faults.clear();
    const next = await startCli(env, ["one-job"]);
    assert.equal((await next.exited).code, 2, next.output());
    const job = env.emu.job(second.jobId)!;
    assert.equal(job.result, "success");
    assert.ok(job.logRows.includes("second"));
    assert.equal(job.logArchived, true);
    assert.deepEqual(await readdir(spoolRoot), []);
  } finally {
    await env.close();
  }
});
