// Raw cgroupfs for a root runner without systemd (hybrid hierarchy): v1
// memory/cpu/pids controllers carry the limits; the v2 `unified` hierarchy's
// cgroup.kill (or the v1 freezer) kills the whole tree.

import { rmdir } from "node:fs/promises";
import type { ResourceLimits } from "../../config/types.js";
import type { CgroupLayer, JobCgroup } from "./types.js";
import {
  CGROUP_ROOT, childCgroups, exists, killListed, killV1Freezer, killV2, knownEmpty, makeCgroup, movePid, ownCgroupPaths,
  readKey, removeCgroup, writeValue,
} from "./cgroup-fs.js";

export interface RawCgroupsInfo {
  /** v1 controller → mount directory, for the limit controllers that exist. */
  controllers: Partial<Record<"memory" | "cpu" | "pids", string>>;
  /** Parent directory for job cgroups on the kill hierarchy. */
  killParent: string;
  killKind: "v2" | "freezer";
  /** Parent directory (below each controller mount) for job cgroups. */
  limitParents: Partial<Record<"memory" | "cpu" | "pids", string>>;
}

/** Finds v1 controllers and a kill hierarchy; undefined when neither is usable. */
export async function probeRawCgroups(subdir = "native-runner"): Promise<RawCgroupsInfo | undefined> {
  const own = await ownCgroupPaths();
  const controllers: RawCgroupsInfo["controllers"] = {};
  const limitParents: RawCgroupsInfo["limitParents"] = {};
  for (const c of ["memory", "cpu", "pids"] as const) {
    const mount = `${CGROUP_ROOT}/${c}`;
    if (own.has(c) && (await exists(`${mount}/cgroup.procs`))) {
      controllers[c] = mount;
      limitParents[c] = join(mount, own.get(c)!, subdir);
    }
  }
  let killParent: string | undefined;
  let killKind: RawCgroupsInfo["killKind"] = "v2";
  const unified = (await exists(`${CGROUP_ROOT}/unified/cgroup.procs`)) ? `${CGROUP_ROOT}/unified` : undefined;
  if (unified && own.has("")) {
    killParent = join(unified, own.get("")!, subdir);
  } else if (own.has("freezer") && (await exists(`${CGROUP_ROOT}/freezer/cgroup.procs`))) {
    killParent = join(`${CGROUP_ROOT}/freezer`, own.get("freezer")!, subdir);
    killKind = "freezer";
  }
  if (!killParent) return undefined;
  // cgroup.kill needs kernel >= 5.14: check on a real child.
  if (killKind === "v2") {
    const probe = `${killParent}/probe-${process.pid}`;
    try {
      await makeCgroup(probe);
      const ok = await exists(`${probe}/cgroup.kill`);
      await removeCgroup(probe);
      await rmdir(killParent).catch(() => {}); // made again by the first job; busy when jobs run
      if (!ok) {
        if (own.has("freezer") && (await exists(`${CGROUP_ROOT}/freezer/cgroup.procs`))) {
          killParent = join(`${CGROUP_ROOT}/freezer`, own.get("freezer")!, subdir);
          killKind = "freezer";
        }
      }
    } catch {
      return undefined;
    }
  }
  return { controllers, killParent, killKind, limitParents };
}

function join(...parts: string[]): string {
  return parts.join("/").replace(/\/+/g, "/").replace(/\/$/, "");
}

export function rawCgroupLayer(info: RawCgroupsInfo): CgroupLayer {
  const ctrls = Object.keys(info.controllers).join("/") || "no limit controllers";
  return {
    name: "raw",
    description: `raw cgroupfs: limits via v1 ${ctrls}, kill via ${info.killKind === "v2" ? "v2 cgroup.kill" : "v1 freezer"} under ${info.killParent}`,
    create: (jobName, limits) => createRawJobCgroup(info, jobName, limits),
    async sweepStale() {
      let n = 0;
      for (const dir of await childCgroups(info.killParent, "job-")) {
        if (info.killKind === "v2") await killV2(dir);
        else await killV1Freezer(dir);
        await removeCgroup(dir).catch(() => {});
        n++;
      }
      for (const parent of Object.values(info.limitParents)) {
        for (const dir of await childCgroups(parent!, "job-")) {
          await killListed(dir);
          await removeCgroup(dir).catch(() => {});
        }
      }
      return n;
    },
  };
}

async function createRawJobCgroup(info: RawCgroupsInfo, jobName: string, limits: ResourceLimits): Promise<JobCgroup> {
  const killDir = `${info.killParent}/${jobName}`;
  const limitDirs: Partial<Record<"memory" | "cpu" | "pids", string>> = {};
  const made: string[] = [];
  const cleanup = async () => {
    for (const d of made.reverse()) await removeCgroup(d).catch(() => {});
  };
  try {
    await makeCgroup(killDir);
    made.push(killDir);
    if (limits.memory_max > 0) limitDirs.memory = info.limitParents.memory;
    if (limits.cpu_quota > 0) limitDirs.cpu = info.limitParents.cpu;
    if (limits.pids_max > 0) limitDirs.pids = info.limitParents.pids;
    for (const [c, parent] of Object.entries(limitDirs) as [keyof typeof limitDirs, string | undefined][]) {
      if (!parent) throw new Error(`host.resources needs the v1 ${c} controller, which is not mounted`);
      const dir = `${parent}/${jobName}`;
      await makeCgroup(dir);
      made.push(dir);
      limitDirs[c] = dir;
    }
    if (limitDirs.memory) {
      await writeValue(`${limitDirs.memory}/memory.limit_in_bytes`, limits.memory_max);
      // Without this, a job could swap its way past the limit where swap accounting exists.
      if (await exists(`${limitDirs.memory}/memory.memsw.limit_in_bytes`)) {
        await writeValue(`${limitDirs.memory}/memory.memsw.limit_in_bytes`, limits.memory_max).catch(() => {});
      }
    }
    if (limitDirs.cpu) {
      await writeValue(`${limitDirs.cpu}/cpu.cfs_period_us`, 100000);
      await writeValue(`${limitDirs.cpu}/cpu.cfs_quota_us`, Math.max(1000, Math.round(limits.cpu_quota * 1000)));
    }
    if (limitDirs.pids) await writeValue(`${limitDirs.pids}/pids.max`, limits.pids_max);
  } catch (err) {
    await cleanup();
    throw err;
  }
  const all = [killDir, ...Object.values(limitDirs)] as string[];
  return {
    entry: {
      kind: "gate",
      async enter(pid) {
        for (const d of all) await movePid(d, pid);
      },
    },
    canKillTree: true,
    async oomKills() {
      if (!limitDirs.memory) return 0;
      const n = await readKey(`${limitDirs.memory}/memory.oom_control`, "oom_kill");
      return n;
    },
    async killAll() {
      if (info.killKind === "v2") await killV2(killDir);
      else await killV1Freezer(killDir);
      for (const d of Object.values(limitDirs)) if (d) await killListed(d);
      for (const d of all) if (!(await knownEmpty(d))) return false;
      return true;
    },
    async remove() {
      for (const d of [...Object.values(limitDirs), killDir]) if (d) await removeCgroup(d);
      // The shared parents go too once the last job is gone (busy otherwise: ignored).
      for (const d of [...Object.values(info.limitParents), info.killParent]) if (d) await rmdir(d).catch(() => {});
    },
  };
}
