// The cgroup layer of a job sandbox: limits, "which processes belong to this
// job", whole-tree kill and OOM accounting. Implementations: raw cgroupfs
// (v1 controllers + v2 kill), delegated v2, systemd transient scopes, none.

import type { ResourceLimits } from "../../config/types.js";

export interface Identity {
  uid: number;
  gid: number;
}

/** How a new job process is put into the job's cgroup. */
export type CgroupEntry =
  /** The process is started paused; `enter(pid)` moves it, then it continues. */
  | { kind: "gate"; enter(pid: number): Promise<void> }
  /** The command line is wrapped (systemd-run); the wrapper also drops to `identity`. */
  | { kind: "wrap"; wrap(argv: string[], identity: Identity | undefined): string[]; afterExit(): Promise<void> }
  /** No cgroup: nothing to do. */
  | { kind: "none" };

export interface JobCgroup {
  readonly entry: CgroupEntry;
  /** True when the kernel reports a complete tree kill is possible. */
  readonly canKillTree: boolean;
  /** OOM kills counted for this job so far (monotonic). */
  oomKills(): Promise<number>;
  /**
   * SIGKILL every process in the cgroup and wait until it is empty. True when the cgroup was then read and
   * found empty: every process still in it is gone (whether the job could leave it is the sandbox's question).
   */
  killAll(): Promise<boolean>;
  /** Remove the cgroup(s); the cgroup must be empty (call killAll first). */
  remove(): Promise<void>;
}

export interface CgroupLayer {
  readonly name: "delegated" | "systemd" | "raw" | "none";
  /** Human description for the startup log (what enforces limits, what kills). */
  readonly description: string;
  create(jobName: string, limits: ResourceLimits): Promise<JobCgroup>;
  /** Kills and removes job cgroups left by an earlier run of this runner; returns how many. */
  sweepStale?(): Promise<number>;
}

export const noCgroupLayer: CgroupLayer = {
  name: "none",
  description: "no cgroups: no resource limits; processes are killed by session/process group (and by uid when jobs have their own uid)",
  async create(): Promise<JobCgroup> {
    return {
      entry: { kind: "none" },
      canKillTree: false,
      async oomKills() {
        return 0;
      },
      async killAll() {
        return false;
      },
      async remove() {},
    };
  },
};
