// The job-end kill: a cgroup read back empty after its kill is the whole job, so the sweeps over every host
// process (by session and process group, and by the job's uid) run only when the cgroup layer cannot say so.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { probeRawCgroups, rawCgroupLayer } from "../../src/host/cgroup/raw-cgroups.js";
import { knownEmpty } from "../../src/host/cgroup/cgroup-fs.js";
import { noCgroupLayer, type CgroupLayer } from "../../src/host/cgroup/types.js";
import { IsolatedBackend } from "../../src/host/isolated-backend.js";
import { UidPool } from "../../src/host/uid-pool.js";
import { isRoot, makeFixture, processesWith, run, type Fixture } from "./fixture.js";

const mark = () => `${7000 + Math.floor(Math.random() * 1000)}.${randomBytes(3).readUIntBE(0, 3)}`;

/** A cgroup layer that only reports: its kill does nothing and says `empty`. */
function reportingLayer(empty: boolean): CgroupLayer {
  return {
    name: "none",
    description: "test: a kill that reports without killing",
    async create() {
      return {
        entry: { kind: "none" },
        canKillTree: true,
        oomKills: async () => 0,
        killAll: async () => empty,
        remove: async () => {},
      };
    },
  };
}

describe("job-end kill", () => {
  let fx: Fixture;
  before(async () => {
    fx = await makeFixture();
  });
  after(() => fx?.cleanup());

  const backend = (cgroups: CgroupLayer, uidPool?: UidPool) =>
    new IsolatedBackend({
      isolation: uidPool ? "uid" : "none", cgroups, limits: { memory_max: 0, cpu_quota: 0, pids_max: 0 },
      workdirParent: fx.workdir, path: process.env.PATH ?? "/usr/bin:/bin", hiddenPaths: [], log: () => {},
      ...(uidPool ? { uidPool } : {}),
    });

  it("sweeps the job's sessions when the cgroup layer does not report the job gone", async () => {
    const sb = await backend(reportingLayer(false)).prepareJob({ jobKey: "sweep" });
    const m = mark();
    await run(sb, `sleep ${m} > /dev/null 2>&1 &`);
    assert.equal((await processesWith(m)).length, 1, "a background process of the step runs");
    await sb.dispose();
    assert.deepEqual(await processesWith(m), [], "killed through its session");
  });

  it("sweeps when a job without its own uid or bubblewrap could have left a cgroup reported empty", async () => {
    const sb = await backend(reportingLayer(true)).prepareJob({ jobKey: "unconfined" });
    const m = mark();
    await run(sb, `sleep ${m} > /dev/null 2>&1 &`);
    assert.equal((await processesWith(m)).length, 1);
    await sb.dispose();
    assert.deepEqual(await processesWith(m), [], "killed through its session");
  });

  it("trusts a cgroup read back empty for a job under its own uid: no sweep over the host's processes", { skip: isRoot ? false : "needs root for a job uid" }, async () => {
    // The layer claims the job is gone while a process of its session still runs: only a sweep would find it.
    const sb = await backend(reportingLayer(true), new UidPool(3_393_000, 2)).prepareJob({ jobKey: "nosweep" });
    const m = mark();
    await run(sb, `sleep ${m} > /dev/null 2>&1 &`);
    const pids = await processesWith(m);
    assert.equal(pids.length, 1);
    try {
      await sb.dispose();
      assert.deepEqual(await processesWith(m), pids, "no session sweep ran");
    } finally {
      for (const pid of pids) process.kill(pid, "SIGKILL");
    }
  });

  it("without cgroups the kill reports nothing, and a cgroup that cannot be read is not known to be empty", async () => {
    const cg = await noCgroupLayer.create("x", { memory_max: 0, cpu_quota: 0, pids_max: 0 });
    assert.equal(await cg.killAll(), false);
    assert.equal(await knownEmpty(`/sys/fs/cgroup/unified/nr-missing-${randomBytes(4).toString("hex")}`), false);
    assert.equal(await knownEmpty("/nonexistent"), false);
  });

  it("without a job uid or bubblewrap a job may leave its cgroup: the sweeps still run", { skip: isRoot ? false : "needs root" }, async (t) => {
    // The job runs as the runner's user (root here), which may write any cgroup.procs: a read-back empty cgroup
    // does not prove the job is gone.
    const info = await probeRawCgroups(`nr-test-leave-${randomBytes(3).toString("hex")}`);
    if (!info) return t.skip("no raw cgroups here");
    const sb = await backend(rawCgroupLayer(info)).prepareJob({ jobKey: "leave" });
    const m = mark();
    try {
      // Into the root cgroup of every hierarchy, still in the step's session.
      await run(sb, `sh -c 'for f in /sys/fs/cgroup/*/cgroup.procs /sys/fs/cgroup/cgroup.procs; do [ -w "$f" ] && echo $$ > "$f" 2>/dev/null; done; exec sleep ${m}' > /dev/null 2>&1 & sleep 0.3`);
      assert.equal((await processesWith(m)).length, 1, "the process left the job's cgroups and runs");
      await sb.dispose();
      assert.deepEqual(await processesWith(m), [], "killed by the session sweep");
    } finally {
      for (const pid of await processesWith(m)) process.kill(pid, "SIGKILL");
    }
  });

  it("raw cgroups: kills a setsid daemon and a double fork and reads the cgroups back empty", { skip: isRoot ? false : "needs root" }, async (t) => {
    const info = await probeRawCgroups(`nr-test-sweep-${randomBytes(3).toString("hex")}`);
    if (!info) return t.skip("no raw cgroups here");
    const layer = rawCgroupLayer(info);
    const cg = await layer.create(`job-sweep-${randomBytes(3).toString("hex")}`, { memory_max: 64 * 1024 * 1024, cpu_quota: 0, pids_max: 0 });
    assert.equal(cg.entry.kind, "gate");
    const m = mark();
    // The same gate a job process passes: wait on fd 3 until the runner moved it into the cgroup.
    const child = spawn("/bin/bash", ["-c", `read _ <&3; setsid sleep ${m}1 > /dev/null 2>&1 & ( ( setsid sleep ${m}2 > /dev/null 2>&1 & ) & ); sleep 0.3`], {
      stdio: ["ignore", "ignore", "ignore", "pipe"],
      detached: true,
    });
    await new Promise((r) => child.once("spawn", r));
    if (cg.entry.kind === "gate") await cg.entry.enter(child.pid!);
    (child.stdio[3] as NodeJS.WritableStream).end("go\n");
    await new Promise((r) => child.once("exit", r));
    for (let i = 0; i < 50 && (await processesWith(m)).length < 2; i++) await sleep(20);
    assert.equal((await processesWith(m)).length, 2, "both daemons left their step's session");
    try {
      assert.equal(await cg.killAll(), true, "read back empty");
      assert.deepEqual(await processesWith(m), []);
    } finally {
      for (const pid of await processesWith(m)) process.kill(pid, "SIGKILL");
      await cg.remove();
    }
  });
});
