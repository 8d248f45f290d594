// The real CLI process: `daemon` and `one-job`, signals and exit codes.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { PARENT_START_STEP, freePort, setupEnv, startCli, ticksSinceBoot, workflow, waitUntil } from "./harness.js";

test("SIGTERM with shutdown_timeout 0: the running job is cancelled and reported, the daemon exits", async () => {
  const env = await setupEnv();
  const cli = await startCli(env, ["daemon"], { shutdownTimeout: "0s" });
  try {
    const { jobId } = env.emu.enqueue({ workflow: workflow(`      - run: touch ${env.dir}/running; sleep 60\n      - run: echo never\n`) });
    await waitUntil(() => {
      if (cli.child.exitCode !== null) throw new Error(`daemon exited early:\n${cli.output()}`);
      return existsSync(join(env.dir, "running"));
    }, 60_000, "job running");
    cli.child.kill("SIGTERM");
    const exit = await cli.exited;
    assert.equal(exit.code, 0, cli.output());
    const job = env.emu.job(jobId)!;
    assert.equal(job.status, "done");
    assert.equal(job.result, "cancelled");
    assert.equal(job.logArchived, true, "final log sent before exiting");
    assert.deepEqual(job.steps.map((s) => s.result), ["cancelled", "cancelled"]);
  } finally {
    cli.child.kill("SIGKILL");
    await env.close();
  }
});

test("SIGTERM with shutdown_timeout: the running job finishes, no new job is taken (status file, metrics)", async () => {
  const env = await setupEnv();
  const port = await freePort();
  const cli = await startCli(env, ["daemon"], { shutdownTimeout: "30s", metricsAddr: `127.0.0.1:${port}` });
  try {
    const { jobId } = env.emu.enqueue({
      workflow: workflow(`      - run: touch ${env.dir}/running; while [ ! -e ${env.dir}/go ]; do sleep 0.05; done; echo finished\n`),
    });
    await waitUntil(() => {
      if (cli.child.exitCode !== null) throw new Error(`daemon exited early:\n${cli.output()}`);
      return existsSync(join(env.dir, "running"));
    }, 60_000, "job running");
    // observability while the job runs
    await waitUntil(() => {
      const st = JSON.parse(readFileSync(join(env.dir, "status.json"), "utf8")) as { running: unknown[] };
      return st.running.length === 1;
    }, 15_000, "status file lists the running job");
    const status = JSON.parse(readFileSync(join(env.dir, "status.json"), "utf8")) as { capacity: number };
    assert.equal(status.capacity, 1);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^native_runner_running_jobs 1$/m);

    cli.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 500));
    const late = env.emu.enqueue({ workflow: workflow("      - run: echo late\n") });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(cli.child.exitCode, null, "still waiting for the job");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(join(env.dir, "go"), "");
    const exit = await cli.exited;
    assert.equal(exit.code, 0, cli.output());
    const job = env.emu.job(jobId)!;
    assert.equal(job.result, "success");
    assert.ok(job.logRows.includes("finished"));
    assert.equal(job.logArchived, true);
    assert.equal(env.emu.job(late.jobId)!.status, "waiting", "no job fetched after SIGTERM");
  } finally {
    cli.child.kill("SIGKILL");
    await env.close();
  }
});

test("SIGTERM with shutdown_timeout: a job still running when it expires is cancelled", async () => {
  const env = await setupEnv();
  const cli = await startCli(env, ["daemon"], { shutdownTimeout: "1s" });
  try {
    const { jobId } = env.emu.enqueue({ workflow: workflow(`      - run: touch ${env.dir}/running; sleep 60\n`) });
    await waitUntil(() => {
      if (cli.child.exitCode !== null) throw new Error(`daemon exited early:\n${cli.output()}`);
      return existsSync(join(env.dir, "running"));
    }, 60_000, "job running");
    cli.child.kill("SIGTERM");
    const exit = await cli.exited;
    assert.equal(exit.code, 0, cli.output());
    const job = env.emu.job(jobId)!;
    assert.equal(job.result, "cancelled");
    assert.equal(job.logArchived, true);
  } finally {
    cli.child.kill("SIGKILL");
    await env.close();
  }
});

test("one-job: exit code 2 without a task; runs one task and exits 0", async () => {
  const env = await setupEnv();
  try {
    const none = await startCli(env, ["one-job"]);
    assert.equal((await none.exited).code, 2, none.output());

    // --wait keeps polling until a job arrives, then runs exactly one
    const waiting = await startCli(env, ["one-job", "--wait"]);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(waiting.child.exitCode, null, waiting.output());
    const a = env.emu.enqueue({ workflow: workflow("      - run: echo one-job ran\n") });
    const b = env.emu.enqueue({ workflow: workflow("      - run: echo second\n") });
    assert.equal((await waiting.exited).code, 0, waiting.output());
    const jobs = [env.emu.job(a.jobId)!, env.emu.job(b.jobId)!];
    assert.equal(jobs.filter((j) => j.result === "success").length, 1, "exactly one job ran");
    assert.equal(jobs.filter((j) => j.status === "waiting").length, 1, "the other is left for another runner");
  } finally {
    await env.close();
  }
});

test("daemon --url/--uuid/--token-url/--label without a .runner file", async () => {
  const env = await setupEnv();
  const { writeFileSync } = await import("node:fs");
  writeFileSync(join(env.dir, "token"), `${env.token}\n`);
  const cli = await startCli(env, [
    "one-job", "--url", env.emu.url, "--uuid", env.uuid, "--token-url", `file:${join(env.dir, "token")}`,
    "--label", "native:host", "--label", "extra:host", "--fetch-interval", "100ms",
  ], { extra: "" });
  try {
    assert.equal((await cli.exited).code, 2, cli.output());
    const runner = env.emu.runners().find((r) => r.uuid === env.uuid)!;
    assert.deepEqual(runner.labels, ["native", "extra"]);
  } finally {
    cli.child.kill("SIGKILL");
    await env.close();
  }
});

test("with cache enabled, jobs get ACTIONS_CACHE_URL of the runner's cache proxy", async () => {
  const env = await setupEnv();
  const cli = await startCli(env, ["one-job", "--wait"], { cache: true });
  try {
    const { jobId } = env.emu.enqueue({ workflow: workflow('      - run: echo "cache=$ACTIONS_CACHE_URL"\n') });
    assert.equal((await cli.exited).code, 0, cli.output());
    const job = env.emu.job(jobId)!;
    assert.equal(job.result, "success");
    assert.ok(job.logRows.some((r) => /^cache=http:\/\/127\.0\.0\.1:\d+/.test(r)), job.logRows.join("\n"));
  } finally {
    cli.child.kill("SIGKILL");
    await env.close();
  }
});

test("Nix: a job's result link is re-rooted before the workspace goes, and the log says so", async () => {
  const env = await setupEnv();
  const cli = await startCli(env, ["one-job", "--wait"]);
  try {
    const { jobId } = env.emu.enqueue({
      workflow: workflow(`      - run: |
          echo "native-runner test $RANDOM $$" > out.txt
          ln -s "$(nix-store --add out.txt)" result
          echo "NIX_CONFIG=$NIX_CONFIG" | head -1
`),
    });
    assert.equal((await cli.exited).code, 0, cli.output());
    const job = env.emu.job(jobId)!;
    assert.equal(job.result, "success", job.logRows.join("\n"));
    const kept = job.logRows.find((r) => r.startsWith("nix: keeping /nix/store/"));
    if (!kept) assert.fail(`no "nix: keeping" row in:\n${job.logRows.join("\n")}\n${cli.output()}`);
    assert.ok(job.logRows.some((r) => /^NIX_CONFIG=\S/.test(r)), job.logRows.join("\n"));
    const { readdirSync } = await import("node:fs");
    assert.ok(readdirSync(join(env.dir, "gcroots"), { recursive: true }).length > 0);
  } finally {
    cli.child.kill("SIGKILL");
    await env.close();
  }
});

test("a task refused by trusted_repos is one WARN line naming the repository and the rule, no error or stack", async () => {
  const env = await setupEnv();
  const cli = await startCli(env, ["daemon"], { trustedRepos: ["bob/*"] });
  try {
    const { jobId } = env.emu.enqueue({ workflow: workflow("      - run: echo never\n") });
    const job = await env.emu.waitForJobDone(jobId, 60_000);
    assert.equal(job.result, "failure");
    cli.child.kill("SIGTERM");
    await cli.exited;
    const lines = cli.output().trim().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { level: number; msg: string });
    const about = lines.filter((l) => /trusted_repos/.test(JSON.stringify(l)));
    assert.equal(about.length, 1, cli.output());
    assert.equal(about[0]!.level, 40, cli.output());
    assert.match(about[0]!.msg, /repository "alice\/webapp" is not in runner\.trusted_repos \(bob\/\*\)/);
    assert.deepEqual(lines.filter((l) => l.level >= 50), [], cli.output());
    assert.doesNotMatch(cli.output(), /Error: Error:/);
  } finally {
    cli.child.kill("SIGKILL");
    await env.close();
  }
});

test("an exception nobody caught inside a task fails that task only; the daemon goes on", async () => {
  const env = await setupEnv();
  const { mkdir, writeFile } = await import("node:fs/promises");
  const { spawn } = await import("node:child_process");
  const { configYaml, REPO_ROOT } = await import("./harness.js");
  const cfg = join(env.dir, "config.yaml");
  await mkdir(join(env.dir, "work"), { recursive: true });
  await writeFile(cfg, configYaml(env));
  const child = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "test/daemon/fixtures/crashing-engine-daemon.ts"), cfg, join(env.dir, "work")], {
    cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
  try {
    for (const marker of ["CRASH_TIMER", "CRASH_REJECT"]) {
      const { jobId } = env.emu.enqueue({ workflow: workflow(`      - run: echo ${marker}\n`) });
      const job = await env.emu.waitForJobDone(jobId, 60_000);
      assert.equal(job.result, "failure", `${marker}\n${out}`);
      assert.ok(job.logRows.some((r) => r.includes("internal error") && r.includes("boom from a")), job.logRows.join("\n"));
      assert.equal(child.exitCode, null, `daemon exited:\n${out}`);
    }
    const ok = await env.emu.waitForJobDone(env.emu.enqueue({ workflow: workflow("      - run: echo still running\n") }).jobId, 60_000);
    assert.equal(ok.result, "success", out);
    const logged = out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { msg: string; taskId?: string });
    const crashes = logged.filter((l) => /uncaught exception in a task|unhandled promise rejection in a task/.test(l.msg));
    assert.equal(crashes.length, 2, out);
    assert.ok(crashes.every((l) => l.taskId !== undefined), out);
  } finally {
    child.kill("SIGKILL");
    await env.close();
  }
});

for (const prestart of [true, false]) {
  test(`host.prestart_worker: ${prestart}: the second of two jobs ${prestart ? "runs in a worker started before its task was fetched" : "starts its worker after its task was fetched"}; steps carry the task's marker; nothing waits after shutdown`, async () => {
    const env = await setupEnv();
    const cli = await startCli(env, ["daemon"], { prestartWorker: prestart });
    try {
      const step = PARENT_START_STEP;
      const first = env.emu.enqueue({ workflow: workflow(step) });
      await env.emu.waitForJobDone(first.jobId, 60_000);
      // Longer than a worker's start: a worker started for the second task cannot be older than its fetch.
      await new Promise((r) => setTimeout(r, 1500));
      const [t0, u0] = [Date.now(), ticksSinceBoot()];
      const second = env.emu.enqueue({ workflow: workflow(step) });
      await env.emu.waitForJobDone(second.jobId, 60_000);
      const job = env.emu.job(second.jobId)!;
      assert.equal(job.result, "success", cli.output());
      const text = job.logRows.join("\n");
      const m = /parent-start=(\d+) marker=(\S+)/.exec(text);
      assert.ok(m, text);
      assert.match(m[2]!, new RegExp(`/emu-${job.taskId}$`), "the task's crash marker reaches its steps");
      const fetched = env.emu.requests().find((r) => r.rpc.endsWith("FetchTask") && r.taskIds?.includes(job.taskId!));
      assert.ok(fetched, "the FetchTask that brought the task");
      const fetchedTick = u0 + Math.floor((fetched.time - t0) / 10);
      if (prestart) assert.ok(Number(m[1]) < fetchedTick - 10, `worker started at tick ${m[1]}, task fetched at ${fetchedTick}`);
      else assert.ok(Number(m[1]) >= fetchedTick - 2, `worker started at tick ${m[1]}, task fetched at ${fetchedTick}`);
      cli.child.kill("SIGTERM");
      assert.equal((await cli.exited).code, 0, cli.output());
      const left = readdirSync(join(env.dir, "work")).filter((n) => n.startsWith("task-") || n.startsWith("waiting-"));
      assert.deepEqual(left, [], "no sandbox (waiting or not) is left after shutdown");
    } finally {
      cli.child.kill("SIGKILL");
      await env.close();
    }
  });
}
