// The delegated cgroup v2 layer (a writable subtree of the v2 hierarchy, as a
// Delegate=yes unit gets) and the systemd layer against a fake systemd-run.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readdir, readFile, rmdir, writeFile, rm, mkdtemp, access } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createHostBackend } from "../../src/host/index.js";
import { hostConfig, isRoot, makeFixture, processesWith, run, type Fixture } from "./fixture.js";

const UID_START = 3_200_000;
const unified = "/sys/fs/cgroup/unified";
const pureV2 = "/sys/fs/cgroup/cgroup.controllers";

async function exists(p: string): Promise<boolean> {
  return access(p).then(() => true, () => false);
}

describe("delegated cgroup v2", { skip: isRoot ? false : "needs root to create a cgroup v2 subtree to delegate" }, () => {
  let fx: Fixture;
  let base: string;
  before(async () => {
    fx = await makeFixture();
    const mount = (await exists(pureV2)) ? "/sys/fs/cgroup" : unified;
    base = join(mount, `nr-test-delegated-${randomBytes(4).toString("hex")}`);
    await mkdir(base);
  });
  after(async () => {
    await rmdir(base).catch(() => {});
    await fx?.cleanup();
  });

  it("puts job processes in job-<id> below the delegated base and kills setsid daemons with cgroup.kill", async (t) => {
    if (!(await exists(`${base}/cgroup.kill`))) return t.skip("kernel without cgroup.kill (< 5.14)");
    const logs: string[] = [];
    const backend = await createHostBackend({
      host: hostConfig({ workdir_parent: fx.workdir, isolation: "none", cgroups: "delegated", uid_range: { start: UID_START, count: 20 }, resources: { memory_max: 0, cpu_quota: 0, pids_max: 64 } }),
      stateDir: fx.stateDir,
      log: (_l, m) => logs.push(m),
      delegatedBase: base,
    });
    // isolation none: only the cgroup can catch a daemon that left the session.
    assert.equal(backend.name, "none/delegated");
    const sb = await backend.prepareJob({ jobKey: "deleg" });
    const mark = `${3000 + Math.floor(Math.random() * 1000)}.${randomBytes(3).readUIntBE(0, 3)}`;
    // Handshake: the daemon has left the step's session before the step ends.
    const ready = join(fx.workdir, `ready-${mark}`);
    const r = await run(
      sb,
      `setsid sh -c 'touch "$0"; exec sleep ${mark}' ${ready} & while [ ! -e ${ready} ]; do sleep 0.05; done; cat /proc/self/cgroup | grep '^0::'`,
    );
    const jobs = (await readdir(base)).filter((n) => n.startsWith("job-deleg-"));
    assert.equal(jobs.length, 1);
    assert.match(r.out, new RegExp(`0::.*/${jobs[0]}`), "the job ran inside its cgroup");
    assert.equal((await processesWith(mark)).length, 1, "the setsid daemon outlived its step");
    await sb.dispose();
    assert.deepEqual(await processesWith(mark), []);
    assert.deepEqual((await readdir(base)).filter((n) => n.startsWith("job-")), [], "job cgroup removed");
    // The hybrid unified hierarchy has no controllers to delegate: the limit is reported as not enforced.
    const controllers = (await readFile(`${base}/cgroup.controllers`, "utf8")).trim();
    if (!controllers.includes("pids")) assert.ok(logs.some((m) => m.includes("not delegated")), logs.join("\n"));
  });
});

describe("systemd transient scopes (fake systemd-run)", { skip: isRoot ? false : "needs root for per-job uids" }, () => {
  let fx: Fixture;
  let bin: string;
  before(async () => {
    fx = await makeFixture();
    bin = await mkdtemp("/var/tmp/nr-fake-systemd-");
    await chmod(bin, 0o755);
    await writeFile(
      join(bin, "systemd-run"),
      `#!/bin/bash
printf '%s\\n' "$*" >> ${bin}/systemd-run.log
uid=; gid=
while [ $# -gt 0 ]; do
  case "$1" in --uid) uid=$2; shift 2;; --gid) gid=$2; shift 2;; --) shift; break;; *) shift;; esac
done
if [ -n "$uid" ]; then exec setpriv --reuid "$uid" --regid "$gid" --clear-groups -- "$@"; fi
exec "$@"
`,
      { mode: 0o755 },
    );
    await writeFile(
      join(bin, "systemctl"),
      `#!/bin/bash
printf '%s\\n' "$*" >> ${bin}/systemctl.log
if [ "$1" = show ]; then cat ${bin}/result 2>/dev/null || echo success; fi
`,
      { mode: 0o755 },
    );
  });
  after(async () => {
    await rm(bin, { recursive: true, force: true });
    await fx?.cleanup();
  });

  it("wraps every job process in systemd-run --scope with the limits and the job uid, and kills the slice", async () => {
    const backend = await createHostBackend({
      host: hostConfig({
        workdir_parent: fx.workdir, isolation: "uid", cgroups: "systemd", uid_range: { start: UID_START + 100, count: 5 },
        resources: { memory_max: 64 * 1024 * 1024, cpu_quota: 50, pids_max: 40 },
      }),
      stateDir: fx.stateDir,
      log: () => {},
      systemd: { systemdRun: join(bin, "systemd-run"), systemctl: join(bin, "systemctl") },
    });
    assert.equal(backend.name, "uid/systemd");
    const sb = await backend.prepareJob({ jobKey: "task-7" });
    const first = await run(sb, "id -u");
    const uid = Number(first.out.trim());
    assert.ok(uid >= UID_START + 100 && uid < UID_START + 105, first.out);
    await writeFile(join(bin, "result"), "oom-kill\n");
    const second = await run(sb, "exit 137");
    assert.equal(second.oomKilled, true);
    assert.match(second.out, /exceeded memory_max/);
    await sb.dispose();

    const runs = (await readFile(join(bin, "systemd-run.log"), "utf8")).trim().split("\n");
    assert.equal(runs.length, 2);
    const args = runs[0]!.split(" ");
    for (const a of ["--scope", "--unit=nativerunner-job_task_7_" ]) assert.ok(runs[0]!.includes(a), runs[0]);
    assert.ok(args.includes("MemoryMax=67108864") && args.includes("CPUQuota=50%") && args.includes("TasksMax=40"), runs[0]);
    // systemd-run gets a constant environment; a shell after it imports the job's (from fd 4) and exec's the command.
    assert.ok(runs[0]!.includes(`--uid ${uid} --gid ${uid} -- /bin/bash -c `), runs[0]);
    assert.ok(runs[0]!.endsWith(`sh bash -c id -u`), runs[0]);
    const slice = /--slice=(\S+)/.exec(runs[0]!)?.[1];
    assert.match(slice ?? "", /^nativerunner-job_task_7_[A-Za-z0-9_]+\.slice$/);
    assert.match(runs[1]!, /-1\.scope|-2\.scope/);
    const ctl = await readFile(join(bin, "systemctl.log"), "utf8");
    assert.match(ctl, new RegExp(`kill --signal=SIGKILL ${slice!.replace(/\./g, "\\.")}`));
    assert.match(ctl, new RegExp(`stop ${slice!.replace(/\./g, "\\.")}`));
    assert.match(ctl, /reset-failed .*-1\.scope .*-2\.scope/);
  });
});

describe("raw cgroups with the v1 freezer as the kill mechanism (kernels without cgroup.kill)", async () => {
  const { probeRawCgroups, rawCgroupLayer } = await import("../../src/host/cgroup/raw-cgroups.js");
  const { ownCgroupPaths } = await import("../../src/host/cgroup/cgroup-fs.js");
  const { IsolatedBackend } = await import("../../src/host/isolated-backend.js");
  const own = await ownCgroupPaths().catch(() => new Map<string, string>());
  const skip = !isRoot ? "needs root" : !own.has("freezer") || !existsSync("/sys/fs/cgroup/freezer/cgroup.procs") ? "no v1 freezer controller mounted" : false;
  let fx: Fixture;
  before(async () => {
    if (!skip) fx = await makeFixture();
  });
  after(() => fx?.cleanup());

  it("freezes and kills a setsid daemon and a double fork, then removes the cgroups", { skip }, async () => {
    const sub = `nr-test-freezer-${randomBytes(3).toString("hex")}`;
    const info = await probeRawCgroups(sub);
    assert.ok(info, "raw cgroups probe");
    const freezer = join("/sys/fs/cgroup/freezer", own.get("freezer")!, sub);
    const layer = rawCgroupLayer({ ...info, killKind: "freezer", killParent: freezer });
    const backend = new IsolatedBackend({
      isolation: "none", cgroups: layer, limits: { memory_max: 64 * 1024 * 1024, cpu_quota: 0, pids_max: 0 },
      workdirParent: fx.workdir, path: process.env.PATH ?? "/usr/bin:/bin", hiddenPaths: [], log: () => {},
    });
    const sb = await backend.prepareJob({ jobKey: "frz" });
    const mark = `${7000 + Math.floor(Math.random() * 1000)}.${randomBytes(3).readUIntBE(0, 3)}`;
    await run(sb, `setsid sleep ${mark}1 > /dev/null 2>&1 & ( ( setsid sleep ${mark}2 > /dev/null 2>&1 & ) & ); sleep 0.3`);
    assert.equal((await processesWith(mark)).length, 2, "both escaped the step's process group");
    const oom = await run(sb, "tail /dev/zero");
    assert.equal(oom.oomKilled, true);
    await sb.dispose();
    assert.deepEqual(await processesWith(mark), []);
    assert.equal(existsSync(freezer), false, "freezer parent removed");
  });
});
