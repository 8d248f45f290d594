// The host backend inside a job worker. The worker already runs with the
// job's privileges, in the job's sandbox and cgroup, with directories the
// daemon prepared; a step is a plain child of the worker, started with the
// job's environment and no wrapper in between. Background processes of a
// step live until the job ends; dispose() kills them (the daemon then kills
// whatever is left of the job: cgroup, PID namespace, uid).

import type { ExitStatus, HostBackend, JobDirs, JobSandbox, SpawnHandlers, SpawnSpec } from "./sandbox.js";
import { killGroupsAndSessions, StepLeaders } from "./proc-scan.js";
import { launch } from "./launch.js";
import { writeFile } from "node:fs/promises";

export class PreparedBackend implements HostBackend {
  constructor(
    readonly name: string,
    private readonly dirs: JobDirs,
    private readonly baseEnv: Record<string, string>,
  ) {}

  async prepareJob(): Promise<JobSandbox> {
    return new PreparedSandbox(this.dirs, this.baseEnv);
  }
}

class PreparedSandbox implements JobSandbox {
  private readonly leaders = new StepLeaders();
  private disposed = false;

  constructor(
    readonly dirs: JobDirs,
    readonly baseEnv: Record<string, string>,
  ) {}

  async spawn(spec: SpawnSpec, handlers: SpawnHandlers, signal: AbortSignal): Promise<ExitStatus> {
    if (this.disposed) throw new Error("job sandbox already disposed");
    if (signal.aborted) return { code: null, signal: "SIGKILL" };
    this.leaders.beforeLaunch();
    const launched = await launch(
      {
        argv: [spec.file, ...spec.args],
        cwd: spec.cwd,
        env: spec.env,
        ...(spec.stdin !== undefined ? { stdin: spec.stdin } : {}),
      },
      handlers,
    );
    this.leaders.add(launched.pid);
    // The worker shares the job's memory limit: the OOM killer should pick a step first.
    await writeFile(`/proc/${launched.pid}/oom_score_adj`, "1000").catch(() => {});
    const onAbort = () => void killGroupsAndSessions([launched.pid]);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      return await launched.done;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  killAll(): Promise<void> {
    return this.leaders.kill();
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await this.killAll();
  }
}
