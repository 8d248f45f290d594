// The cache HMAC secret must never be on a command line: every local user can
// read /proc/*/cmdline. `cache-server --secret x` is refused, and no process
// of a running daemon (or of its jobs) shows the secret or the runner token.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CLI, hostJob, logText, makeBase, skipReason, startRunner, type HostileRunner } from "./harness.js";
import { rm } from "node:fs/promises";

/** Pids whose command line contains `needle`. */
async function cmdlinesWith(needle: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    if (cmd.includes(needle)) out.push(Number(name));
  }
  return out;
}

const skip = await skipReason({ isolation: "none", cgroups: "none" });

describe("hostile: secrets in argv", { skip }, () => {
  it("refuses `cache-server --secret`, and the secret never shows in /proc/*/cmdline", async () => {
    const base = await makeBase();
    const secret = `ARGVSECRET${randomBytes(16).toString("hex")}`;
    const cfg = join(base, "config.yaml");
    await mkdir(join(base, "cache"), { mode: 0o700 });
    await writeFile(cfg, `cache:\n  dir: ${join(base, "cache")}\n`, { mode: 0o600 });
    const child = spawn(process.execPath, [CLI, "cache-server", "-c", cfg, "--port", "0", "--secret", secret], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: base },
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
    try {
      // Either it exits at once, or it is up: then it has its secret from argv.
      const listening = new Promise<"listening">((res) => {
        const check = () => (/listening/.test(out) ? res("listening") : undefined);
        child.stdout.on("data", check);
        child.stderr.on("data", check);
      });
      const first = await Promise.race([exited, listening, new Promise((res) => setTimeout(() => res("timeout"), 30_000))]);
      const seen = await cmdlinesWith(secret);
      assert.notEqual(first, "listening", `cache-server started with the secret from --secret (visible in /proc/${child.pid}/cmdline): ${out}`);
      assert.notEqual(first, "timeout", `cache-server neither exited nor listened within 30 s: ${out}`);
      assert.notEqual(first, 0, "refusal exits non-zero");
      assert.match(out, /--secret/, "the refusal names the flag");
      assert.ok(!out.includes(secret), "the refusal does not echo the secret");
      assert.deepEqual(seen.filter((p) => p !== child.pid), [], "no other process shows the secret");
    } finally {
      child.kill("SIGKILL");
      await exited;
      await rm(base, { recursive: true, force: true });
    }
  });

  describe("a daemon with the cache enabled, running a job", () => {
    let r: HostileRunner;
    before(async () => {
      r = await startRunner({ cache: true });
    });
    after(async () => {
      await r?.close();
    });

    it("shows neither the cache secret nor the runner token in any command line", async () => {
      const mark = `RUNNING-${randomBytes(6).toString("hex")}`;
      const { jobId } = r.emu.enqueue({
        workflow: hostJob(`      - run: |\n          echo ${mark}\n          sleep 3\n          echo "url=\${ACTIONS_CACHE_URL:+set}"\n`),
      });
      await r.emu.waitFor(() => (r.emu.job(jobId)?.logRows.some((l) => l.includes(mark)) ? true : undefined), 60_000);
      const withSecret = await cmdlinesWith(r.secrets.cache);
      const withToken = await cmdlinesWith(r.secrets.token);
      const job = await r.emu.waitForJobDone(jobId, 60_000);
      assert.equal(job.result, "success", logText(job));
      // The probe ran while the cache service was up for this job.
      assert.match(logText(job), /url=set/);
      assert.deepEqual(withSecret, [], "processes with the cache secret in their command line");
      assert.deepEqual(withToken, [], "processes with the runner token in their command line");
    });
  });
});
