import { IsolatedBackend } from "./isolated-backend.js";
import { noCgroupLayer } from "./cgroup/types.js";
import { jobBaseEnv } from "./job-env.js";
import type { JobDirs } from "./sandbox.js";

/**
 * No isolation: job processes run as the runner's user, each in its own
 * session/process group, killed by group (and by session at dispose).
 * Daemons that call setsid and leave the session can escape; the cgroup
 * backends close that gap. Kept for exec and tests; the daemon uses
 * createHostBackend().
 */
export class PlainBackend extends IsolatedBackend {
  override readonly name: string = "none";
  constructor(workdirParent: string, basePath: string = process.env.PATH ?? "/usr/bin:/bin") {
    super({
      isolation: "none",
      cgroups: noCgroupLayer,
      limits: { memory_max: 0, cpu_quota: 0, pids_max: 0 },
      workdirParent,
      path: basePath,
      hiddenPaths: [],
      log: () => {},
    });
  }
}

export function baseEnvFor(dirs: JobDirs, path: string): Record<string, string> {
  return jobBaseEnv({ path, home: dirs.home, temp: dirs.temp });
}
