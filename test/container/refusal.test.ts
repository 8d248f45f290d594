// Container jobs are never run on the host: register and daemon refuse labels
// they cannot serve (lxc), and a container job with no container daemon fails.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEmulator } from "../emulator/index.js";
import { REPO_ROOT, configYaml, daemonConfig, setupEnv } from "../daemon/harness.js";
import { startDaemon } from "../../src/daemon/index.js";
import { labelNames } from "../../src/config/index.js";
import { PlainBackend } from "../../src/host/plain-backend.js";
import { silentLogger } from "../../src/observability/logger.js";
import { runJob } from "../../src/engine/run-job.js";

const entry = join(REPO_ROOT, "src/cli/entry.ts");
// Absolute, because the CLI runs in a scratch directory with no node_modules.
const tsx = import.meta.resolve("tsx");

function cli(args: string[], cwd: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", tsx, entry, ...args], {
      cwd,
      env: { ...process.env, HOME: cwd, XDG_STATE_HOME: join(cwd, "state"), XDG_CACHE_HOME: join(cwd, "cache"), NO_COLOR: "1", NR_TEST_LOG: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    // A daemon that does not refuse keeps running: stop it so the test fails instead of hanging.
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

test("register refuses an lxc:// label, naming it, and registers nothing", async () => {
  const emu = await startEmulator();
  const dir = await mkdtemp(join(tmpdir(), "nr-refuse-reg-"));
  try {
    for (const label of ["box:lxc://debian:bookworm", "box:lxc"]) {
      const res = await cli(
        ["register", "--no-interactive", "--instance", emu.url, "--token", emu.createRegistrationToken(), "--name", "r", "--labels", `native:host,${label}`],
        dir,
      );
      assert.notEqual(res.code, 0, res.out);
      assert.ok(res.out.includes(JSON.stringify(label)), res.out);
      assert.equal(existsSync(join(dir, ".runner")), false);
    }
    assert.equal(emu.runners().length, 0);
  } finally {
    await emu.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test("daemon refuses to start with an lxc:// label, naming it, before fetching any task", async () => {
  const env = await setupEnv();
  try {
    const label = "ubuntu-latest:lxc://debian:bookworm";
    const cfg = configYaml(env, { labels: ["native:host", label] });
    await mkdir(join(env.dir, "work"), { recursive: true });
    await writeFile(join(env.dir, "config.yaml"), cfg);
    env.emu.enqueue({ workflow: "on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - run: touch " + join(env.dir, "ran") + "\n" });
    const res = await cli(["daemon", "-c", join(env.dir, "config.yaml")], env.dir);
    assert.notEqual(res.code, 0, res.out);
    assert.ok(res.out.includes(JSON.stringify(label)), res.out);
    assert.equal(env.emu.requests().filter((r) => r.rpc.endsWith("FetchTask")).length, 0);
    assert.equal(existsSync(join(env.dir, "ran")), false);
  } finally {
    await env.close();
  }
});

test("exec: a container job whose container daemon does not answer fails; it never runs on the host", async () => {
  const dir = await mkdtemp(join(tmpdir(), "nr-refuse-exec-"));
  try {
    const marker = join(dir, "ran");
    const wf = (extra: string, runsOn = "native") =>
      `on: push\njobs:\n  j:\n    runs-on: ${runsOn}\n${extra}    steps:\n      - run: touch ${marker}\n`;
    const cases: Array<{ file: string; args: string[]; want: RegExp }> = [
      { file: wf("", "ubuntu-latest"), args: ["-P", "ubuntu-latest=node:20-bookworm"], want: /"ubuntu-latest:docker:\/\/node:20-bookworm"/ },
      { file: wf("    container: node:20-bookworm\n"), args: [], want: /container:/ },
      { file: wf("    container:\n      image: node:20-bookworm\n"), args: ["-P", "native=-self-hosted"], want: /container:/ },
      { file: wf("    services:\n      db:\n        image: postgres:16\n"), args: [], want: /services:/ },
    ];
    for (const c of cases) {
      const repo = join(dir, "repo");
      await rm(repo, { recursive: true, force: true });
      await mkdir(join(repo, ".forgejo/workflows"), { recursive: true });
      await writeFile(join(repo, ".forgejo/workflows/ci.yml"), c.file);
      const res = await cli(["exec", "-C", repo, "--container-host", `unix://${join(dir, "no.sock")}`, ...c.args], dir);
      assert.equal(res.code, 1, res.out);
      assert.match(res.out, /the container daemon does not answer/);
      assert.equal(existsSync(marker), false, c.file);
    }
    // A label mapped to the host still runs there.
    const repo = join(dir, "repo");
    await writeFile(join(repo, ".forgejo/workflows/ci.yml"), wf("", "ubuntu-latest"));
    const ok = await cli(["exec", "-C", repo, "-P", "ubuntu-latest=-self-hosted"], dir);
    assert.equal(ok.code, 0, ok.out);
    assert.equal(existsSync(marker), true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("task path: a task whose runs-on resolves to a container label, or with container:, fails and never runs", async () => {
  const env = await setupEnv();
  const config = daemonConfig(env);
  const conn = { ...config.server.connections[0]!, labels: ["native:host", "ubuntu:docker://node:20-bookworm"] };
  const daemon = startDaemon({
    config,
    connections: [conn],
    host: new PlainBackend(join(env.dir, "work")),
    log: silentLogger(),
    version: "test",
    runJob,
    labelNames: (c) => labelNames(c.labels),
  });
  try {
    const marker = join(env.dir, "ran");
    const jobs = [
      { runsOn: "ubuntu", extra: "", want: /"ubuntu:docker:\/\/node:20-bookworm"/ },
      { runsOn: "native", extra: "    container: node:20-bookworm\n", want: /container:/ },
      { runsOn: "native", extra: "    services:\n      db:\n        image: postgres:16\n", want: /services:/ },
    ];
    for (const j of jobs) {
      const { jobId } = env.emu.enqueue({
        workflow: `on: push\njobs:\n  j:\n    runs-on: ${j.runsOn}\n${j.extra}    steps:\n      - run: touch ${marker}\n`,
      });
      const job = await env.emu.waitForJobDone(jobId, 30_000);
      assert.equal(job.result, "failure");
      const text = job.logRows.join("\n");
      assert.match(text, j.want);
      assert.match(text, /no container executor/);
      assert.equal(existsSync(marker), false);
    }
    // The host label still runs on the host.
    const { jobId } = env.emu.enqueue({ workflow: `on: push\njobs:\n  j:\n    runs-on: native\n    steps:\n      - run: touch ${marker}\n` });
    assert.equal((await env.emu.waitForJobDone(jobId, 30_000)).result, "success");
    assert.equal(existsSync(marker), true);
  } finally {
    await daemon.shutdown();
    await env.close();
  }
});
