import { spawn } from "node:child_process";
import { mkdir, rm } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type {
  ExitStatus, HostBackend, JobDirs, JobSandbox, PrepareJobOptions, SpawnHandlers, SpawnSpec,
} from "./sandbox.js";

/**
 * No isolation: job processes run as the runner's user, each in its own
 * session/process group, killed by group. Daemons that call setsid escape;
 * the cgroup backends close that gap.
 */
export class PlainBackend implements HostBackend {
  readonly name: string = "none";
  constructor(
    private readonly workdirParent: string,
    private readonly basePath: string = process.env.PATH ?? "/usr/bin:/bin",
  ) {}

  async prepareJob(opts: PrepareJobOptions): Promise<JobSandbox> {
    const root = join(this.workdirParent, `${sanitize(opts.jobKey)}-${randomBytes(4).toString("hex")}`);
    const dirs: JobDirs = {
      root,
      workspace: opts.workspaceDir ?? join(root, "workspace"),
      temp: join(root, "tmp"),
      home: join(root, "home"),
      toolCache: join(root, "tool_cache"),
    };
    for (const d of [dirs.root, dirs.workspace, dirs.temp, dirs.home, dirs.toolCache]) {
      await mkdir(d, { recursive: true, mode: 0o700 });
    }
    return new PlainSandbox(dirs, baseEnvFor(dirs, this.basePath));
  }
}

export function baseEnvFor(dirs: JobDirs, path: string): Record<string, string> {
  const env: Record<string, string> = { PATH: path, HOME: dirs.home, TMPDIR: dirs.temp };
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (k === "LANG" || k === "TZ" || k === "TERM" || k.startsWith("LC_")) env[k] = v;
  }
  env.LANG ??= "C.UTF-8";
  return env;
}

function sanitize(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 64) || "job";
}

class PlainSandbox implements JobSandbox {
  private readonly groups = new Set<number>();
  private disposed = false;
  constructor(readonly dirs: JobDirs, readonly baseEnv: Record<string, string>) {}

  spawn(spec: SpawnSpec, handlers: SpawnHandlers, signal: AbortSignal): Promise<ExitStatus> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        resolve({ code: null, signal: "SIGKILL" });
        return;
      }
      const child = spawn(spec.file, spec.args, {
        cwd: spec.cwd,
        env: spec.env,
        detached: true, // own session and process group
        stdio: [spec.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      });
      const pid = child.pid;
      if (pid !== undefined) this.groups.add(pid);
      const onAbort = () => killGroup(pid);
      signal.addEventListener("abort", onAbort, { once: true });
      if (spec.stdin !== undefined && child.stdin) {
        child.stdin.on("error", () => {});
        child.stdin.end(spec.stdin);
      }
      child.stdout?.on("data", (c: Buffer) => handlers.onStdout(c));
      child.stderr?.on("data", (c: Buffer) => handlers.onStderr(c));
      child.once("error", (err) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      });
      child.once("close", (code, sig) => {
        signal.removeEventListener("abort", onAbort);
        // Leftover members of the group (background jobs) die with the step.
        killGroup(pid);
        if (pid !== undefined) this.groups.delete(pid);
        resolve({ code, signal: sig });
      });
    });
  }

  async killAll(): Promise<void> {
    for (const pgid of this.groups) killGroup(pgid);
    this.groups.clear();
  }

  async dispose(): Promise<void> {
    await this.killAll();
    if (this.disposed) return;
    this.disposed = true;
    await rm(this.dirs.root, { recursive: true, force: true });
  }
}

function killGroup(pgid: number | undefined): void {
  if (pgid === undefined) return;
  try {
    process.kill(-pgid, "SIGKILL");
  } catch {
    // already gone
  }
}
