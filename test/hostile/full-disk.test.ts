// A job fills the filesystem that holds the state dir (a 2 MiB tmpfs holding
// both the state dir and workdir_parent, as /var/lib/native-runner does).
// The daemon must stay up, fail that job with a message that says why,
// deliver the rows it had journaled, and run the next job once the space is
// back. After a crash with the disk still full, the restarted daemon reports
// the orphaned task and runs new jobs again.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { hostJob, isRoot, logText, makeBase, skipReason, startRunner, type HostileRunner } from "./harness.js";

async function smallFs(): Promise<{ base: string; fs: string; release(): Promise<void> }> {
  const base = await makeBase();
  const fs = join(base, "fs");
  await mkdir(fs, { mode: 0o755 });
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", fs]);
  return {
    base,
    fs,
    async release() {
      try {
        execFileSync("umount", ["-l", fs]);
      } catch {
        // not mounted
      }
      await rm(base, { recursive: true, force: true });
    },
  };
}

const FILL = "dd if=/dev/zero of=fill bs=16k 2>/dev/null || true";
const LIVENESS_MS = 90_000;

const canMount = isRoot ? (() => {
  try {
    execFileSync("mount", ["--version"], { stdio: "ignore" });
    return false;
  } catch {
    return "mount(8) is missing";
  }
})() : "needs root to mount a tmpfs";
const skip = canMount || (await skipReason({ isolation: "none", cgroups: "none" }));

describe("hostile: the state dir's filesystem filled by a job", { skip }, () => {
  let disk: Awaited<ReturnType<typeof smallFs>>;
  let r: HostileRunner;
  before(async () => {
    disk = await smallFs();
    r = await startRunner({ base: disk.base, fsDir: disk.fs, cache: false, capacity: 1 });
  });
  after(async () => {
    await r?.close();
    await disk?.release();
  });

  it("daemon stays up, the job fails saying why, journaled rows arrive, the next job runs", async () => {
    const mark = `BEFORE-FILL-${randomBytes(4).toString("hex")}`;
    const { jobId } = r.emu.enqueue({
      workflow: hostJob(`      - run: |
          echo ${mark}
          sleep 1
          ${FILL}
          for i in $(seq 4000); do echo "row $i of a job that filled the disk: padding padding padding padding"; done
`),
    });
    const job = await Promise.race([
      r.emu.waitForJobDone(jobId, LIVENESS_MS).catch(() => undefined),
      r.daemon.exited.then(() => undefined),
    ]);
    const log = job ? logText(job) : "";
    const next = r.daemon.alive()
      ? await r.emu.waitForJobDone(r.emu.enqueue({ workflow: hostJob("      - run: echo next job\n") }).jobId, LIVENESS_MS).catch(() => undefined)
      : undefined;
    assert.deepEqual(
      {
        daemonAlive: r.daemon.alive(),
        jobDone: job !== undefined,
        result: job?.result,
        saysWhy: /no space|ENOSPC|disk (is )?full/i.test(log),
        journaledRowDelivered: log.includes(mark),
        nextJob: next?.result,
      },
      { daemonAlive: true, jobDone: true, result: "failure", saysWhy: true, journaledRowDelivered: true, nextJob: "success" },
      `job log:\n${log.slice(-3000)}\n--- daemon output:\n${r.daemon.output().slice(-3000)}`,
    );
  });
});

describe("hostile: crash with the state dir's filesystem full", { skip }, () => {
  let disk: Awaited<ReturnType<typeof smallFs>>;
  let r: HostileRunner;
  before(async () => {
    disk = await smallFs();
    r = await startRunner({ base: disk.base, fsDir: disk.fs, cache: false, capacity: 1 });
  });
  after(async () => {
    await r?.close();
    await disk?.release();
  });

  it("after a restart the orphan is reported and new jobs run", async () => {
    const mark = `ORPHAN-${randomBytes(4).toString("hex")}`;
    const { jobId } = r.emu.enqueue({
      workflow: hostJob(`      - run: |
          echo ${mark}
          sleep 1
          ${FILL}
          exec sleep 600
`),
    });
    await r.emu.waitFor(() => (r.emu.job(jobId)?.logRows.some((l) => l.includes(mark)) ? true : undefined), LIVENESS_MS);
    // Give the fill time to happen, then crash the daemon (if the full disk has not already).
    await new Promise((res) => setTimeout(res, 3000));
    if (r.daemon.alive()) r.daemon.child.kill("SIGKILL");
    await r.daemon.exited;
    await r.restart();
    const orphan = await r.emu.waitForJobDone(jobId, LIVENESS_MS).catch(() => undefined);
    const next = await r.emu.waitForJobDone(r.emu.enqueue({ workflow: hostJob("      - run: echo after the crash\n") }).jobId, LIVENESS_MS)
      .catch(() => undefined);
    assert.deepEqual(
      {
        daemonAlive: r.daemon.alive(),
        orphanReported: orphan !== undefined,
        orphanResult: orphan?.result,
        orphanRowsKept: orphan ? logText(orphan).includes(mark) : false,
        nextJob: next?.result,
      },
      { daemonAlive: true, orphanReported: true, orphanResult: "failure", orphanRowsKept: true, nextJob: "success" },
      `next job log:\n${next ? logText(next) : "(not done)"}\n--- daemon output after restart:\n${r.daemon.output().slice(-3000)}`,
    );
  });
});
