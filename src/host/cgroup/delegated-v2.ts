// Delegated cgroup v2: the runner owns a cgroup subtree (a NixOS unit with
// Delegate=yes, or root on a pure v2 host) and makes job-<id> children in it.
// The "no internal processes" rule means the runner first moves itself into a
// `supervisor` leaf before it can enable controllers for its children.

import { readFile } from "node:fs/promises";
import type { ResourceLimits } from "../../config/types.js";
import type { CgroupLayer, JobCgroup } from "./types.js";
import {
  CGROUP_ROOT, childCgroups, exists, killV2, knownEmpty, makeCgroup, movePid, ownCgroupPaths, readKey, readPids, removeCgroup, writable,
  writeValue,
} from "./cgroup-fs.js";

export interface DelegatedInfo {
  /** The delegated cgroup directory (job cgroups are made below it). */
  base: string;
  /** v2 controllers enabled for job cgroups. */
  controllers: string[];
}

/** The own v2 cgroup when it is writable (delegated to us), else undefined. */
export async function findDelegatedBase(): Promise<string | undefined> {
  const own = await ownCgroupPaths();
  const path = own.get("");
  if (path === undefined) return undefined;
  const pureV2 = await exists(`${CGROUP_ROOT}/cgroup.controllers`);
  const mount = pureV2 ? CGROUP_ROOT : `${CGROUP_ROOT}/unified`;
  if (!(await exists(`${mount}/cgroup.procs`))) return undefined;
  // Our own cgroup may already be the supervisor leaf from an earlier start.
  let dir = `${mount}${path === "/" ? "" : path}`;
  if (dir.endsWith("/supervisor")) dir = dir.slice(0, -"/supervisor".length);
  if (dir === mount) return undefined; // the root cgroup is never "delegated"
  if (!(await writable(dir)) || !(await writable(`${dir}/cgroup.procs`)) || !(await writable(`${dir}/cgroup.subtree_control`))) {
    return undefined;
  }
  return dir;
}

/**
 * Prepares a delegated base: enables the wanted controllers that the parent
 * offers, moving the base's own processes into `supervisor` if needed.
 */
export async function prepareDelegated(base: string, want: string[], log: (msg: string) => void): Promise<DelegatedInfo> {
  const available = (await readFile(`${base}/cgroup.controllers`, "utf8")).trim().split(/\s+/).filter(Boolean);
  const enable = want.filter((c) => available.includes(c));
  const missing = want.filter((c) => !available.includes(c));
  if (missing.length > 0) log(`cgroup v2 controllers not delegated to ${base}: ${missing.join(", ")}; those limits are not enforced`);
  if (enable.length > 0) {
    const line = enable.map((c) => `+${c}`).join(" ");
    try {
      await writeValue(`${base}/cgroup.subtree_control`, line);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EBUSY") throw err;
      const supervisor = `${base}/supervisor`;
      await makeCgroup(supervisor);
      for (const pid of await readPids(base)) await movePid(supervisor, pid).catch(() => {});
      await writeValue(`${base}/cgroup.subtree_control`, line);
    }
  }
  return { base, controllers: enable };
}

export function delegatedCgroupLayer(info: DelegatedInfo): CgroupLayer {
  return {
    name: "delegated",
    description: `delegated cgroup v2 under ${info.base} (controllers: ${info.controllers.join(", ") || "none"}), kill via cgroup.kill`,
    create: (jobName, limits) => createV2JobCgroup(info, jobName, limits),
    async sweepStale() {
      const stale = await childCgroups(info.base, "job-");
      for (const dir of stale) {
        await killV2(dir);
        await removeCgroup(dir).catch(() => {});
      }
      return stale.length;
    },
  };
}

async function createV2JobCgroup(info: DelegatedInfo, jobName: string, limits: ResourceLimits): Promise<JobCgroup> {
  const dir = `${info.base}/${jobName}`;
  await makeCgroup(dir);
  try {
    if (limits.memory_max > 0 && info.controllers.includes("memory")) {
      await writeValue(`${dir}/memory.max`, limits.memory_max);
      if (await exists(`${dir}/memory.swap.max`)) await writeValue(`${dir}/memory.swap.max`, 0).catch(() => {});
    }
    if (limits.cpu_quota > 0 && info.controllers.includes("cpu")) {
      await writeValue(`${dir}/cpu.max`, `${Math.max(1000, Math.round(limits.cpu_quota * 1000))} 100000`);
    }
    if (limits.pids_max > 0 && info.controllers.includes("pids")) await writeValue(`${dir}/pids.max`, limits.pids_max);
  } catch (err) {
    await removeCgroup(dir).catch(() => {});
    throw err;
  }
  return {
    entry: { kind: "gate", enter: (pid) => movePid(dir, pid) },
    canKillTree: true,
    oomKills: () => readKey(`${dir}/memory.events`, "oom_kill"),
    async killAll() {
      await killV2(dir);
      return knownEmpty(dir);
    },
    remove: () => removeCgroup(dir),
  };
}
