// Durability of the daemon's reports: rows produced while Forgejo is away
// wait in the task's spool (on disk), the final report that ran out of
// retries is delivered once the server is back, and the final report keeps
// the order ephemeral runners need (no_more first, then the final state).

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startEmulator } from "../emulator/index.js";
import { createForgejoClient } from "../../src/protocol/index.js";
import { daemonConfig, setupEnv, startInProcess, waitUntil, workflow, type TestEnv } from "../daemon/harness.js";
import { startDaemon } from "../../src/daemon/index.js";
import { labelNames } from "../../src/config/index.js";
import { PlainBackend } from "../../src/host/plain-backend.js";
import { silentLogger } from "../../src/observability/logger.js";
import { runJob } from "../../src/engine/run-job.js";
import { RESTART_LINE } from "../../src/daemon/recovery.js";
import { checkJob, makeJobSpecs, specWorkflow } from "./fault-suite-lib.js";

function spoolRows(dir: string): number {
  const root = join(dir, "spool");
  let n = 0;
  for (const d of existsSync(root) ? readdirSync(root) : []) {
    const f = join(root, d, "rows");
    if (existsSync(f)) n += readFileSync(f, "utf8").split("\n").length - 1;
  }
  return n;
}

test("Forgejo away: rows wait in the spool, the final report is delivered when it is back, nothing lost", async () => {
  const env = await setupEnv();
  const config = daemonConfig(env, { reportInterval: "100ms", fetchInterval: "100ms" });
  let backlog = 0;
  const daemon = startDaemon({
    config,
    connections: config.server.connections,
    host: new PlainBackend(join(env.dir, "work")),
    log: silentLogger(),
    version: "test",
    runJob,
    labelNames: (c) => labelNames(c.labels),
    observer: { spoolBacklog: (bytes) => (backlog = Math.max(backlog, bytes)) },
  });
  let emu2: Awaited<ReturnType<typeof startEmulator>> | undefined;
  try {
    const N = 20_000;
    const { jobId } = env.emu.enqueue({
      workflow: workflow(`      - run: touch ${env.dir}/started; while [ ! -e ${env.dir}/go ]; do sleep 0.05; done; for i in $(seq 1 ${N}); do echo "row-$i"; done\n`),
    });
    await waitUntil(() => existsSync(join(env.dir, "started")), 60_000, "job started");
    const port = env.emu.port;
    const snap = env.emu.snapshot();
    await env.emu.stop();
    const { writeFileSync } = await import("node:fs");
    writeFileSync(join(env.dir, "go"), "");
    // the job ends while the server is away; its rows are on disk, the final report gives up and is queued
    await waitUntil(() => spoolRows(env.dir) > N, 120_000, "rows journaled");
    await waitUntil(() => daemon.redeliverer!.size === 1, 120_000, "final report queued for redelivery");
    assert.ok(existsSync(join(env.dir, "spool")), "spool kept");
    await waitUntil(() => backlog > N * 5, 30_000, "the spool backlog metric saw the unsent rows");

    emu2 = await startEmulator({ port, state: snap });
    const job = await emu2.waitForJobDone(jobId, 180_000);
    assert.equal(job.result, "success");
    assert.equal(job.logArchived, true);
    const rows = job.logRows.filter((r) => r.startsWith("row-"));
    assert.equal(rows.length, N);
    assert.deepEqual(rows, Array.from({ length: N }, (_, i) => `row-${i + 1}`));
    assert.equal(job.logRows.at(-1), "Job succeeded");
    assert.ok(!job.logRows.includes(RESTART_LINE));
    await waitUntil(() => readdirSync(join(env.dir, "spool")).length === 0, 30_000, "spool removed after delivery");
  } finally {
    await daemon.shutdown();
    await emu2?.stop();
    await env.close();
  }
});

test("ephemeral runner: the log goes out with no_more before the final UpdateTask that deletes the runner", async () => {
  const env = await setupEnv();
  const client = createForgejoClient({ baseUrl: env.emu.url });
  const reg = await client.register({ name: "eph", token: env.emu.createRegistrationToken(), version: "t", labels: ["native"], ephemeral: true });
  const eph: TestEnv = { ...env, uuid: reg.runner!.uuid, token: reg.runner!.token };
  const daemon = startInProcess(eph, { reportInterval: "50ms" });
  try {
    const { jobId } = env.emu.enqueue({ workflow: workflow("      - run: for i in $(seq 1 300); do echo \"e-$i\"; done\n") });
    const job = await env.emu.waitForJobDone(jobId, 60_000);
    assert.equal(job.result, "success");
    assert.equal(job.logArchived, true, "no_more arrived before the runner was deleted");
    assert.equal(job.logRows.filter((r) => r.startsWith("e-")).length, 300);
    await waitUntil(() => env.emu.runners().some((r) => r.name === "eph" && r.deleted), 10_000, "ephemeral runner deleted");
    const reports = env.emu.requests().filter((r) => r.runnerUuid === reg.runner!.uuid && /Update(Log|Task)$/.test(r.rpc));
    const lastLog = reports.map((r) => r.rpc).lastIndexOf("runner.v1.RunnerService/UpdateLog");
    const lastTask = reports.map((r) => r.rpc).lastIndexOf("runner.v1.RunnerService/UpdateTask");
    assert.ok(lastLog >= 0 && lastTask > lastLog, "the final UpdateTask is the last report");
    // the server had the whole log before the runner's last call
    const taskAfterLog = reports.slice(lastLog + 1);
    assert.ok(taskAfterLog.every((r) => r.rpc.endsWith("UpdateTask")));
  } finally {
    await daemon.shutdown();
    await env.close();
  }
});

test("the fault-suite checker catches a lost row, a duplicated row and a wrong result", async () => {
  const env = await setupEnv();
  const daemon = startInProcess(env, { capacity: 2, reportInterval: "50ms", fetchInterval: "50ms" });
  try {
    const specs = makeJobSpecs(6, 7);
    const ids = specs.map((s) => env.emu.enqueue({ workflow: specWorkflow(s, env.dir) }).jobId);
    const views = await Promise.all(ids.map((id) => env.emu.waitForJobDone(id, 120_000)));
    for (let i = 0; i < specs.length; i++) {
      const c = checkJob(specs[i]!, views[i]!);
      assert.deepEqual(c.problems, [], `clean run of ${specs[i]!.name}`);
    }
    const withRows = views.findIndex((v, i) => specs[i]!.steps.some((s) => s.type === "lines") && v.logRows.length > 6);
    assert.ok(withRows >= 0);
    const v = views[withRows]!;
    const target = v.logRows.findIndex((r) => r.startsWith(`${specs[withRows]!.name}-s`));
    const lost = { ...v, logRows: v.logRows.filter((_, k) => k !== target) };
    assert.ok(checkJob(specs[withRows]!, lost).lost >= 1);
    const dup = { ...v, logRows: [...v.logRows.slice(0, target + 1), v.logRows[target]!, ...v.logRows.slice(target + 1)] };
    assert.ok(checkJob(specs[withRows]!, dup).duplicated >= 1);
    const wrong = { ...v, result: v.result === "success" ? ("failure" as const) : ("success" as const) };
    assert.ok(checkJob(specs[withRows]!, wrong).wrong >= 1);
  } finally {
    await daemon.shutdown();
    await env.close();
  }
});
