// The delivery's verdicts while a job runs, through the daemon and the
// emulator: a task the server refuses is stopped and given up; a revoked
// registration stops the connection's reports and keeps the spool.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setupEnv, startInProcess, waitUntil, workflow } from "./harness.js";

const reportRpc = (rpc: string) => rpc.endsWith("UpdateLog") || rpc.endsWith("UpdateTask");

test("the server refuses a running task (not_found): the job is stopped, its spool removed, the next job runs", async () => {
  const env = await setupEnv();
  const daemon = startInProcess(env);
  const spoolRoot = join(env.dir, "spool");
  try {
    const first = env.emu.enqueue({ workflow: workflow("      - run: echo started; sleep 600\n") });
    await waitUntil(() => env.emu.job(first.jobId)?.logRows.includes("started") ?? false, 30_000, "job running");
    for (const rpc of ["UpdateLog", "UpdateTask"]) env.emu.faults.add({ rpc, kind: "error", code: "not_found", message: "no such task" });
    await waitUntil(async () => existsSync(spoolRoot) && (await readdir(spoolRoot)).length === 0, 60_000, "spool given up");
    env.emu.faults.clear();
    const second = env.emu.enqueue({ workflow: workflow("      - run: echo next\n") });
    const job = await env.emu.waitForJobDone(second.jobId, 30_000);
    assert.equal(job.result, "success");
    // Nothing of the refused task reached the server after the refusal.
    assert.equal(env.emu.job(first.jobId)!.status, "running");
    const refused = env.emu.requests().filter((r) => reportRpc(r.rpc) && r.fault === "error");
    assert.ok(refused.length <= 2, `${refused.length} refused calls: not retried`);
  } finally {
    env.emu.faults.clear();
    await daemon.shutdown();
    await env.close();
  }
});

test("the registration is revoked while a job runs (unauthenticated): its reports stop, the job ends, the spool is kept", async () => {
  const env = await setupEnv();
  const daemon = startInProcess(env);
  const spoolRoot = join(env.dir, "spool");
  try {
    const go = join(env.dir, "go");
    const { jobId } = env.emu.enqueue({ workflow: workflow(`      - run: echo started; while [ ! -e ${go} ]; do sleep 0.05; done; echo after\n`) });
    await waitUntil(() => env.emu.job(jobId)?.logRows.includes("started") ?? false, 30_000, "job running");
    for (const rpc of ["UpdateLog", "UpdateTask"]) env.emu.faults.add({ rpc, kind: "error", code: "unauthenticated", message: "unregistered runner" });
    await waitUntil(() => env.emu.requests().some((r) => reportRpc(r.rpc) && r.fault === "error"), 30_000, "a refused report");
    const [key] = await readdir(spoolRoot);
    await writeFile(go, "");
    await waitUntil(async () => {
      const state = await readFile(join(spoolRoot, key!, "state.json"), "utf8").catch(() => "{}");
      return (JSON.parse(state) as { final?: unknown }).final !== undefined;
    }, 30_000, "the job finished");
    await daemon.shutdown();
    assert.equal(env.emu.requests().filter((r) => reportRpc(r.rpc) && r.fault === "error").length, 1, "no report after the refusal");
    assert.ok(existsSync(join(spoolRoot, key!)), "spool kept for the next start");
    const rows = await readFile(join(spoolRoot, key!, "rows"), "utf8");
    assert.match(rows, /after/);
  } finally {
    env.emu.faults.clear();
    await daemon.shutdown();
    await env.close();
  }
});
