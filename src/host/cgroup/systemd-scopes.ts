// systemd transient scopes for a root runner under systemd (PID 1): every job
// process is started through `systemd-run --scope` inside a per-job slice, with
// MemoryMax/CPUQuota/TasksMax on each scope; the slice is killed as a whole.

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { ResourceLimits } from "../../config/types.js";
import type { CgroupLayer, Identity, JobCgroup } from "./types.js";

const run = promisify(execFile);

export interface SystemdTools {
  systemdRun: string;
  systemctl: string;
}

export function systemdCgroupLayer(tools: SystemdTools): CgroupLayer {
  return {
    name: "systemd",
    description: `systemd transient scopes (${tools.systemdRun}) in a slice per job; limits per scope, kill per slice`,
    create: async (jobName, limits) => createSystemdJob(tools, jobName, limits),
  };
}

/** Slice names use "-" for nesting: keep the job part free of it. */
function unitPart(s: string): string {
  return s.replace(/[^A-Za-z0-9_]/g, "_");
}

async function createSystemdJob(tools: SystemdTools, jobName: string, limits: ResourceLimits): Promise<JobCgroup> {
  const slice = `nativerunner-${unitPart(jobName)}.slice`;
  const scopes: string[] = [];
  let oom = 0;
  let seq = 0;
  const props: string[] = [];
  if (limits.memory_max > 0) props.push("-p", `MemoryMax=${limits.memory_max}`, "-p", "MemorySwapMax=0");
  if (limits.cpu_quota > 0) props.push("-p", `CPUQuota=${limits.cpu_quota}%`);
  if (limits.pids_max > 0) props.push("-p", `TasksMax=${limits.pids_max}`);
  const systemctl = async (...args: string[]) => {
    try {
      return (await run(tools.systemctl, args, { timeout: 10000 })).stdout;
    } catch {
      return "";
    }
  };
  return {
    entry: {
      kind: "wrap",
      wrap(argv: string[], identity: Identity | undefined): string[] {
        const scope = `nativerunner-${unitPart(jobName)}-${++seq}.scope`;
        scopes.push(scope);
        const user = identity ? ["--uid", String(identity.uid), "--gid", String(identity.gid)] : [];
        return [tools.systemdRun, "--scope", "--quiet", `--unit=${scope}`, `--slice=${slice}`, ...props, ...user, "--", ...argv];
      },
      async afterExit() {
        const scope = scopes[scopes.length - 1];
        if (!scope) return;
        const result = (await systemctl("show", "--property=Result", "--value", scope)).trim();
        if (result === "oom-kill") oom++;
      },
    },
    canKillTree: true,
    async oomKills() {
      return oom;
    },
    async killAll() {
      await systemctl("kill", "--signal=SIGKILL", slice);
      await systemctl("stop", slice);
      // Not read back here (the slice's cgroup path is systemd's): the runner's own sweeps confirm.
      return false;
    },
    async remove() {
      if (scopes.length > 0) await systemctl("reset-failed", ...scopes);
    },
  };
}
