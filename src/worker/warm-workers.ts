// A job worker started ahead of its task. Starting Node and loading the engine
// is most of the time between a task's arrival and its first step (about
// 100 ms), so while the runner is busy one sandbox is prepared and a worker
// started in it, waiting for its start message; the next task takes both.
// The worker is the same process with the same privileges as one started for
// the task: it runs in a sandbox of its own (directories, uid, cgroup, made by
// the same backend) and learns of its task only from the start message.
// After `keepMs` without a task it is stopped, so an idle runner holds no
// worker. Only the base sandbox is made early; what a task adds around it
// (Nix roots, the crash marker, a container) wraps it when the task comes.

import type { HostBackend, JobSandbox, PrepareJobOptions, PrestartedProcess } from "../host/sandbox.js";
import { prestart } from "../host/index.js";
import type { WorkerCommand } from "./run-in-worker.js";

/** The job key of a sandbox made before its task (names its directory: `waiting-<random>`). */
export const WARM_JOB_KEY = "waiting";

export interface WarmWorkersOptions {
  worker: WorkerCommand;
  /** How long a started worker waits for a task after the last one arrived; then it is stopped. */
  keepMs: number;
  diag?: (level: "info" | "warn", msg: string) => void;
}

interface Warm {
  sandbox: JobSandbox;
  proc: PrestartedProcess;
}

export class WarmWorkers {
  /** The backend to give tasks: prepareJob hands out the sandbox with its started worker when one is ready. */
  readonly host: HostBackend;
  private warm: Warm | undefined;
  private preparing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** When the last task took a sandbox (or was prepared cold). */
  private lastTask = 0;
  private closed = false;
  private readonly disposing = new Set<Promise<void>>();

  constructor(
    private readonly base: HostBackend,
    private readonly opts: WarmWorkersOptions,
  ) {
    this.host = { name: base.name, prepareJob: (p) => this.prepareJob(p) };
  }

  /** Whether a started worker waits for a task now (tests, diagnostics). */
  get ready(): boolean {
    return this.warm !== undefined && !this.warm.proc.exited;
  }

  /** Stops the waiting worker and removes its sandbox; no more are started. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.preparing;
    this.drop();
    await Promise.all([...this.disposing]);
  }

  private async prepareJob(p: PrepareJobOptions): Promise<JobSandbox> {
    // A workspace of the task's own (exec -C) is not what the waiting sandbox has.
    const taken = p.workspaceDir === undefined ? await this.take() : undefined;
    this.refill();
    return taken ?? this.base.prepareJob(p);
  }

  private async take(): Promise<JobSandbox | undefined> {
    await this.preparing;
    const w = this.warm;
    this.warm = undefined;
    if (!w) return undefined;
    if (w.proc.exited) {
      this.dispose(w);
      return undefined;
    }
    let proc: PrestartedProcess | undefined = w.proc;
    w.sandbox.takePrestarted = () => {
      const p = proc;
      proc = undefined;
      return p;
    };
    return w.sandbox;
  }

  /** Starts the next task's worker unless one is ready or on its way; restarts the idle timer. */
  private refill(): void {
    if (this.closed) return;
    this.lastTask = Date.now();
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.drop(), this.opts.keepMs);
    this.timer.unref();
    if (this.warm || this.preparing) return;
    this.preparing = this.start()
      .catch((err: Error) => this.opts.diag?.("warn", `could not start a job worker ahead of its task: ${err.message}`))
      .finally(() => {
        this.preparing = undefined;
      });
  }

  private async start(): Promise<void> {
    const sandbox = await this.base.prepareJob({ jobKey: WARM_JOB_KEY });
    const [file, ...args] = this.opts.worker.argv;
    const proc = prestart(sandbox, { file: file!, args, cwd: sandbox.dirs.workspace, env: sandbox.baseEnv });
    const w: Warm = { sandbox, proc };
    if (this.closed) {
      this.dispose(w);
      return;
    }
    this.warm = w;
    // Made after the idle timer fired (a slow preparation): not kept.
    if (Date.now() - this.lastTask >= this.opts.keepMs) this.drop();
    void proc.exit.then(() => {
      // A worker that ended while waiting (killed, or it failed to start) is not handed out.
      if (this.warm !== w) return;
      this.warm = undefined;
      const why = proc.startError?.message ?? "it exited";
      this.opts.diag?.("warn", `a job worker started ahead of its task ended while waiting (${why})`);
      this.dispose(w);
    });
  }

  /** Stops the waiting worker (idle, or closing). */
  private drop(): void {
    const w = this.warm;
    this.warm = undefined;
    if (w) this.dispose(w);
  }

  private dispose(w: Warm): void {
    w.proc.kill();
    const p = w.sandbox
      .dispose()
      .catch((err: Error) => this.opts.diag?.("warn", `could not clean up the sandbox of a waiting job worker: ${err.message}`))
      .finally(() => this.disposing.delete(p));
    this.disposing.add(p);
  }
}
