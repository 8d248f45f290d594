// Cancellation from the server, runner.timeout, and a crashing engine.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { setupEnv, startInProcess, workflow, waitUntil, alive, daemonConfig } from "./harness.js";
import { runJob } from "../../src/engine/run-job.js";
import { createHostBackend } from "../../src/host/index.js";
import type { HostBackend } from "../../src/host/sandbox.js";
import type { RunJobFn } from "../../src/daemon/index.js";

const sleeper = (dir: string) => `
      - run: |
          sleep 300 &
          echo $! > ${dir}/pid-bg
          setsid sleep 300 &
          echo $! > ${dir}/pid-setsid
          echo ready
          sleep 300
      - run: echo never runs
`;

function readPid(file: string): number {
  return Number(readFileSync(file, "utf8").trim());
}

test("a server-side cancel stops the job within seconds, kills its process group and cancels the rest", async () => {
  const env = await setupEnv();
  const daemon = startInProcess(env, { reportInterval: "200ms" });
  try {
    const { jobId } = env.emu.enqueue({ workflow: workflow(sleeper(env.dir)) });
    await waitUntil(() => existsSync(join(env.dir, "pid-setsid")) && (env.emu.job(jobId)?.logRows.includes("ready") ?? false), 30_000, "job running");
    const bg = readPid(join(env.dir, "pid-bg"));
    const detached = readPid(join(env.dir, "pid-setsid"));
    assert.ok(alive(bg));
    env.emu.cancel(jobId);
    await waitUntil(() => !alive(bg), 5000, "background sleep killed");
    const job = await env.emu.waitForJobDone(jobId, 30_000);
    assert.equal(job.result, "cancelled");
    await waitUntil(() => env.emu.job(jobId)!.logArchived, 10_000, "log archived after cancel");
    const task = env.emu.job(jobId)!;
    assert.equal(task.steps[0]!.result, "cancelled");
    assert.equal(task.steps[1]!.result, "cancelled");
    assert.ok(!task.logRows.includes("never runs"));
    // A `setsid` child leaves the process group: only a cgroup (or the
    // isolated backend's process scan) reaches it. The plain backend cannot.
    if (alive(detached)) process.kill(detached, "SIGKILL");
  } finally {
    await daemon.shutdown();
    await env.close();
  }
});

test("cancel with the host backend kills a setsid child too", async () => {
  const env = await setupEnv();
  const cfg = daemonConfig(env);
  let host: HostBackend;
  const notes: string[] = [];
  try {
    host = await createHostBackend({
      host: { ...cfg.host, isolation: "none" },
      stateDir: join(env.dir, "state"),
      log: (_l, m) => notes.push(m),
    });
  } catch (err) {
    await env.close();
    throw err;
  }
  const daemon = startInProcess(env, { reportInterval: "200ms" }, runJob, host);
  try {
    const { jobId } = env.emu.enqueue({ workflow: workflow(sleeper(env.dir)) });
    await waitUntil(() => existsSync(join(env.dir, "pid-setsid")) && (env.emu.job(jobId)?.logRows.includes("ready") ?? false), 30_000, "job running");
    const bg = readPid(join(env.dir, "pid-bg"));
    const detached = readPid(join(env.dir, "pid-setsid"));
    env.emu.cancel(jobId);
    const job = await env.emu.waitForJobDone(jobId, 30_000);
    assert.equal(job.result, "cancelled");
    await waitUntil(() => !alive(bg), 5000, "background sleep killed");
    const cgroupNote = notes.find((n) => n.includes("cgroups:")) ?? "";
    await waitUntil(() => !alive(detached), 10_000, `setsid child killed (${cgroupNote})`);
  } finally {
    await daemon.shutdown();
    await env.close();
  }
});

test("runner.timeout cancels the job with forgejo-runner's message", async () => {
  const env = await setupEnv();
  const daemon = startInProcess(env, { timeout: "1500ms" });
  try {
    const { jobId } = env.emu.enqueue({ workflow: workflow("      - run: echo started; sleep 60\n      - run: echo after\n") });
    const job = await env.emu.waitForJobDone(jobId, 30_000);
    assert.equal(job.result, "cancelled");
    assert.ok(job.logRows.includes("The runner cancelled the job because it exceeds the maximum run time"), job.logRows.join("\n"));
    assert.deepEqual(job.steps.map((s) => s.result), ["cancelled", "cancelled"]);
  } finally {
    await daemon.shutdown();
    await env.close();
  }
});

test("an exception in the engine fails that task only; the daemon keeps serving", async () => {
  const env = await setupEnv();
  let calls = 0;
  const flaky: RunJobFn = async (req, opts) => {
    calls++;
    if (calls === 1) throw new Error(`engine exploded near ${req.secrets.MY_SECRET}`);
    return runJob(req, opts);
  };
  const daemon = startInProcess(env, {}, flaky);
  try {
    const a = env.emu.enqueue({ workflow: workflow("      - run: echo a\n"), secrets: { MY_SECRET: "hunter2-secret" } });
    const jobA = await env.emu.waitForJobDone(a.jobId, 30_000);
    assert.equal(jobA.result, "failure");
    assert.ok(jobA.logRows.some((r) => r.includes("engine exploded near ***")), jobA.logRows.join("\n"));
    assert.ok(!jobA.logRows.some((r) => r.includes("hunter2-secret")), "secrets are masked in the runner's own rows");
    assert.equal(jobA.logArchived, true);
    const b = env.emu.enqueue({ workflow: workflow("      - run: echo b\n") });
    const jobB = await env.emu.waitForJobDone(b.jobId, 30_000);
    assert.equal(jobB.result, "success");
  } finally {
    await daemon.shutdown();
    await env.close();
  }
});
