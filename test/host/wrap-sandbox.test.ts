// Wrappers around a job's sandbox (the Nix GC roots, the crash marker) change a member or two and pass on the rest:
// a wrapper written member by member dropped what it did not list (a daemon job's OOM report was lost).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PlainBackend } from "../../src/host/plain-backend.js";
import type { HostBackend, JobSandbox } from "../../src/host/sandbox.js";
import { withJobNix } from "../../src/nix/job-nix.js";
import { JOB_MARKER_ENV, markJobProcesses } from "../../src/daemon/job-marker.js";

test("the daemon's chain of sandbox wrappers (crash marker around Nix) passes on every optional member", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nr-wrap-"));
  try {
    const plain = new PlainBackend(join(dir, "work"));
    const hints = { uid: 3_720_001, gid: 3_720_001 };
    const taken = { argv: ["node"] } as never;
    const inner: HostBackend = {
      name: "stub",
      async prepareJob(p) {
        const sb = await plain.prepareJob(p);
        return Object.assign(sb, { killHints: () => hints, oomReport: async () => "oom", runsActionImages: true, takePrestarted: () => taken });
      },
    };
    const reported: unknown[] = [];
    const host = markJobProcesses(withJobNix(inner, { repository: "o/r", ref: "refs/heads/main", runId: "1", jobId: "j" }, { nixConfig: "x = y", log: () => {} }), "m-1", (h) => reported.push(h));
    const sb: JobSandbox = await host.prepareJob({ jobKey: "task-1" });
    try {
      assert.deepEqual(sb.killHints?.(), hints);
      assert.deepEqual(reported, [hints], "the hints are reported when the sandbox is prepared");
      assert.equal(await sb.oomReport?.(), "oom");
      assert.equal(sb.runsActionImages, true);
      assert.equal(sb.takePrestarted?.(), taken);
      assert.equal(sb.baseEnv[JOB_MARKER_ENV], "m-1", "what a wrapper changes is its own");
      assert.equal(sb.baseEnv.NIX_CONFIG, "x = y");
      let out = "";
      const exit = await sb.spawn({ file: "sh", args: ["-c", `echo "$${JOB_MARKER_ENV} $NIX_CONFIG"`], cwd: sb.dirs.workspace, env: sb.baseEnv }, { onStdout: (c) => (out += c.toString()), onStderr: () => {} }, new AbortController().signal);
      assert.equal(exit.code, 0);
      assert.equal(out.trim(), "m-1 x = y");
    } finally {
      await sb.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
