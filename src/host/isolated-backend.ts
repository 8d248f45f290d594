// The host backend: an identity/filesystem layer (per-job uid, bubblewrap,
// both, or none) combined with a cgroup layer (delegated v2, systemd scopes,
// raw cgroupfs, none). One sandbox per job.

import type { ResourceLimits } from "../config/types.js";
import type {
  ExitStatus, JobKillHints, HostBackend, JobDirs, JobSandbox, PrepareJobOptions, SpawnHandlers, SpawnSpec,
} from "./sandbox.js";
import type { CgroupLayer, Identity, JobCgroup } from "./cgroup/types.js";
import { bwrapArgs, resolveHidden, type BwrapPlan } from "./bwrap-args.js";
import { createJobDirs, removeJobDirs, sanitizeJobKey } from "./job-dirs.js";
import { jobBaseEnv } from "./job-env.js";
import { killGroupsAndSessions, killUid, StepLeaders } from "./proc-scan.js";
import { APPLY_ENV, BASH, envRecords, launch, wrapperEnv } from "./launch.js";
import type { UidPool } from "./uid-pool.js";
import { randomHex } from "./random.js";
import { realpath } from "node:fs/promises";

export type IsolationMode = "none" | "uid" | "bwrap" | "uid+bwrap";

export interface IsolatedBackendOptions {
  isolation: IsolationMode;
  cgroups: CgroupLayer;
  limits: ResourceLimits;
  workdirParent: string;
  /** PATH for job processes. */
  path: string;
  /** Required for "uid" and "uid+bwrap". */
  uidPool?: UidPool;
  /** Primary gid of job processes; default: the job uid. */
  jobGid?: number;
  /** Absolute path of bwrap; required for the bwrap modes. */
  bwrap?: string;
  /** Paths a job must not see (bwrap hides them; uid relies on permissions). */
  hiddenPaths: string[];
  /** Shared directories jobs may read but not write, even inside a hidden area (the actions cache). */
  readOnlyPaths?: string[];
  /** Names this runner instance in the job roots' marker files (see sweepJobDirs). */
  instance?: string;
  log: (level: "info" | "warn", msg: string) => void;
}

export class IsolatedBackend implements HostBackend {
  readonly name: string;

  constructor(private readonly opts: IsolatedBackendOptions) {
    this.name = `${opts.isolation}/${opts.cgroups.name}`;
    if (opts.isolation.startsWith("uid") && !opts.uidPool) throw new Error(`isolation ${opts.isolation} needs host.uid_range`);
    if (opts.isolation.endsWith("bwrap") && !opts.bwrap) throw new Error(`isolation ${opts.isolation} needs bwrap`);
  }

  get isolation(): IsolationMode {
    return this.opts.isolation;
  }

  async prepareJob(prep: PrepareJobOptions): Promise<JobSandbox> {
    const o = this.opts;
    let identity: Identity | undefined;
    let cg: JobCgroup | undefined;
    let dirs: JobDirs | undefined;
    try {
      if (o.uidPool) {
        const uid = await o.uidPool.allocate();
        identity = { uid, gid: o.jobGid ?? uid };
      }
      dirs = await createJobDirs({
        parent: o.workdirParent,
        jobKey: prep.jobKey,
        ...(prep.workspaceDir !== undefined ? { workspaceDir: prep.workspaceDir } : {}),
        ...(identity ? { identity } : {}),
        ...(o.instance ? { instance: o.instance } : {}),
      });
      const cgName = `job-${sanitizeJobKey(prep.jobKey)}-${randomHex(3)}`;
      cg = await o.cgroups.create(cgName, o.limits);
      let plan: BwrapPlan | undefined;
      if (o.isolation.endsWith("bwrap")) {
        const hidden = await resolveHidden(o.hiddenPaths);
        plan = {
          hidden,
          jobsParent: o.workdirParent,
          dirs,
          asRoot: identity === undefined && process.getuid?.() === 0,
          readOnly: await readOnlyBinds(o.readOnlyPaths ?? [], [...hidden.map((h) => h.path), o.workdirParent], o.log),
        };
      }
      const baseEnv = jobBaseEnv({
        path: o.path,
        home: dirs.home,
        temp: dirs.temp,
        ...(identity ? { user: `job${identity.uid}` } : {}),
      });
      return new IsolatedSandbox(dirs, baseEnv, cg, identity, plan, o);
    } catch (err) {
      await cg?.remove().catch(() => {});
      if (dirs) await removeJobDirs(dirs, identity, { unsandboxed: o.isolation === "none" }).catch(() => {});
      if (identity) o.uidPool?.free(identity.uid);
      throw err;
    }
  }
}

class IsolatedSandbox implements JobSandbox {
  private readonly leaders = new StepLeaders();
  private disposing: Promise<void> | undefined;
  /** A fresh job cgroup counts from zero. */
  private readonly oomAtStart = 0;

  constructor(
    readonly dirs: JobDirs,
    readonly baseEnv: Record<string, string>,
    private readonly cg: JobCgroup,
    private readonly identity: Identity | undefined,
    private readonly bwrap: BwrapPlan | undefined,
    private readonly opts: IsolatedBackendOptions,
  ) {}

  async spawn(spec: SpawnSpec, handlers: SpawnHandlers, signal: AbortSignal): Promise<ExitStatus> {
    if (this.disposing) throw new Error("job sandbox already disposed");
    if (signal.aborted) return { code: null, signal: "SIGKILL" };
    // Every process before the job's own command (gate, bwrap, systemd-run)
    // runs with a constant environment; the job's reaches only the final exec.
    let argv = [spec.file, ...spec.args];
    let env = spec.env;
    let fd4: Buffer | undefined;
    const entry = this.cg.entry;
    if (this.bwrap) {
      argv = [this.opts.bwrap!, "--args", "4", ...bwrapArgs(this.bwrap, spec.cwd), "--", ...argv];
      fd4 = bwrapEnvArgs(spec.env);
      env = wrapperEnv();
    } else if (entry.kind !== "none") {
      if (entry.kind === "wrap") argv = [BASH, "-c", APPLY_ENV, "sh", ...argv];
      fd4 = envRecords(spec.env);
      env = wrapperEnv();
    }
    let identity = this.identity;
    if (entry.kind === "wrap") {
      argv = entry.wrap(argv, identity);
      identity = undefined; // systemd-run drops privileges itself
    }
    const oomBefore = await this.cg.oomKills();
    this.leaders.beforeLaunch();
    const launched = await launch(
      {
        argv,
        cwd: spec.cwd,
        env,
        ...(spec.stdin !== undefined ? { stdin: spec.stdin } : {}),
        ...(spec.input ? { input: spec.input } : {}),
        ...(identity ? { identity } : {}),
        ...(entry.kind === "gate" ? { gate: entry.enter, gateImportsEnv: !this.bwrap } : {}),
        ...(fd4 ? { fd4 } : {}),
      },
      handlers,
    );
    this.leaders.add(launched.pid);
    const onAbort = () => void killGroupsAndSessions([launched.pid]);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const res = await launched.done;
      if (entry.kind === "wrap") await entry.afterExit();
      const oomKilled = (await this.cg.oomKills()) > oomBefore;
      if (oomKilled) {
        handlers.onStderr(
          Buffer.from(`native-runner: killed: exceeded memory_max (${this.opts.limits.memory_max} bytes)\n`),
        );
        return { ...res, oomKilled: true };
      }
      return res;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  async killAll(): Promise<void> {
    await this.kill();
  }

  /**
   * The job's uid: the worker's git identity (a job uid has no passwd entry) and the spool's kill hint. Process
   * groups are not given: a restarted runner would kill by them on this boot, and a pid can be reused meanwhile;
   * the job's cgroups and uids are swept at start anyway.
   */
  killHints(): JobKillHints {
    return this.identity ? { uid: this.identity.uid, gid: this.identity.gid } : {};
  }

  async oomReport(): Promise<string | undefined> {
    const n = await this.cg.oomKills().catch(() => 0);
    return n > this.oomAtStart ? `native-runner: killed: exceeded memory_max (${this.opts.limits.memory_max} bytes)` : undefined;
  }

  /** Kills everything of the job; returns how many processes survived. */
  private async kill(): Promise<number> {
    // Every job process starts in the job's cgroup. With its own uid (the cgroup files are the runner's) or under
    // bubblewrap (they are read-only there) it cannot leave it: a cgroup read back empty after the kill is then
    // the whole job, and the sweeps below, whose cost grows with the host's processes, are not needed. A job that
    // runs as the runner's own user can write cgroup.procs and move itself out.
    const confined = this.identity !== undefined || this.bwrap !== undefined;
    if ((await this.cg.killAll()) && confined) return 0;
    // Only processes that started since the first leader can be in its group or session.
    await this.leaders.kill();
    if (!this.identity) return 0;
    const left = await killUid(this.identity.uid, this.identity.gid, this.leaders.counterMark);
    if (left.length > 0) {
      this.opts.log("warn", `job uid ${this.identity.uid}: ${left.length} process(es) survived the kill: ${left.map((p) => p.pid).join(", ")}`);
    }
    return left.length;
  }

  dispose(): Promise<void> {
    this.disposing ??= this.doDispose();
    return this.disposing;
  }

  private async doDispose(): Promise<void> {
    let clean = true;
    try {
      clean = (await this.kill()) === 0;
    } catch (err) {
      clean = false;
      this.opts.log("warn", `killing the job's processes failed: ${(err as Error).message}`);
    }
    try {
      await this.cg.remove();
    } catch (err) {
      this.opts.log("warn", `removing the job's cgroup failed: ${(err as Error).message}`);
    }
    try {
      await removeJobDirs(this.dirs, this.identity, { unsandboxed: this.opts.isolation === "none" });
    } catch (err) {
      this.opts.log("warn", `removing ${this.dirs.root} failed: ${(err as Error).message}`);
    }
    if (this.identity) {
      // A uid whose processes could not all be killed stays out of the pool.
      if (clean) this.opts.uidPool?.free(this.identity.uid);
    }
  }
}

/** bwrap --args content: the final process's environment, and nothing else. */
function bwrapEnvArgs(env: Record<string, string>): Buffer {
  const parts = ["--clearenv"];
  for (const [k, v] of Object.entries(env)) parts.push("--setenv", k, v);
  return Buffer.from(parts.map((p) => `${p}\0`).join(""));
}

/** Existing read-only shares, minus any that would uncover a hidden path or the other jobs. */
async function readOnlyBinds(paths: string[], hidden: string[], log: IsolatedBackendOptions["log"]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    const real = await realpath(p).catch(() => undefined);
    if (!real) continue;
    const uncovers = hidden.find((h) => h === real || h.startsWith(real === "/" ? "/" : real + "/"));
    if (uncovers) {
      log("warn", `not sharing ${real} with jobs: it would uncover the hidden path ${uncovers}`);
      continue;
    }
    out.push(real);
  }
  return out;
}
