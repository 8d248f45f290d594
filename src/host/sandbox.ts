// Process isolation seam. The engine starts every job process through a
// JobSandbox; how that process is isolated (plain, per-job uid, bubblewrap,
// cgroups) is the backend's business.

import type { Writable } from "node:stream";

export interface SpawnSpec {
  /** Program and arguments; resolved against env.PATH by the backend. */
  file: string;
  args: string[];
  cwd: string;
  /** The complete environment of the process (nothing is inherited). */
  env: Record<string, string>;
  /** Optional stdin content. */
  stdin?: string;
  /** Keep stdin open and hand it over once the process runs (a job worker's channel). */
  input?: (stdin: Writable) => void;
  /**
   * Run the process in a new container of this image (docker actions); only
   * for sandboxes with `runsActionImages`. An empty `file` means the image's entrypoint.
   */
  image?: ActionImage & { entrypoint?: string };
}

/** A docker action's image: pulled by name, or built from a Dockerfile (once per tag). */
export interface ActionImage {
  image?: string;
  /**
   * `context` is a directory with `dockerfile` a path in it, or the bytes of a
   * tar of that directory with `dockerfile` relative to it (a container job's
   * worker sends those: the runner side never reads the job's directories).
   */
  build?: { context: string | Uint8Array; dockerfile: string; tag: string };
}

export interface SpawnHandlers {
  onStdout(chunk: Buffer): void;
  onStderr(chunk: Buffer): void;
  /**
   * Optional backpressure: a promise while the consumer cannot take more output; a sandbox that can pause the
   * process's output does so until it resolves (a container job's output, relayed to a slower worker).
   */
  wait?(): Promise<void> | undefined;
}

export interface ExitStatus {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the sandbox killed it for exceeding a resource limit. */
  oomKilled?: boolean;
}

export interface JobDirs {
  /** Per-job root; everything below is deleted at dispose(). */
  root: string;
  workspace: string;
  temp: string;
  home: string;
  toolCache: string;
}

/** What a runner that restarts after a crash needs to kill a job's leftovers. */
export interface JobKillHints {
  /** Process groups / sessions led by the job's processes. */
  processGroups?: number[];
  /** cgroup directories (absolute paths under /sys/fs/cgroup) of the job. */
  cgroups?: string[];
  /** The job's own uid and gid (per-job uid isolation). */
  uid?: number;
  gid?: number;
}

export interface JobSandbox {
  readonly dirs: JobDirs;
  /** Base environment every job process gets (allow-listed: PATH, HOME, LANG, ...). */
  readonly baseEnv: Record<string, string>;
  /** Run a process; when `signal` aborts, the process and all its descendants are killed. */
  spawn(spec: SpawnSpec, handlers: SpawnHandlers, signal: AbortSignal): Promise<ExitStatus>;
  /** Kill every process the job started (daemonized ones included). */
  killAll(): Promise<void>;
  /**
   * Optional: where programs are looked up when job processes do not run on
   * this host's file system (a container). Default: the host's PATH lookup.
   * Such a sandbox's processes run the `node` it finds, never the runner's.
   */
  findProgram?(name: string, pathEnv: string): string | undefined;
  /** True when spawn() can run a SpawnSpec.image (a container sandbox). */
  readonly runsActionImages?: boolean;
  /** Optional: kill hints for crash recovery (the daemon journals them while the job runs). */
  killHints?(): JobKillHints;
  /** Optional: a log line when the kernel's OOM killer hit the job since it was prepared. */
  oomReport?(): Promise<string | undefined>;
  /** killAll(), then remove the job's directories and cgroup. Idempotent. */
  dispose(): Promise<void>;
  /**
   * Optional: a process started in this sandbox before the job was known (a job worker started ahead of its task,
   * worker/warm-workers.ts), handed over once. A wrapper of a sandbox passes it through.
   */
  takePrestarted?(): PrestartedProcess | undefined;
}

/** A process started through JobSandbox.spawn before anyone listened: its output waits until attach(). */
export interface PrestartedProcess {
  /** The spawn spec's program and arguments (a caller checks it is the process it wants). */
  readonly argv: readonly string[];
  /** Its stdin once it runs; never resolves when it failed to start (see exit). */
  readonly stdin: Promise<Writable>;
  /** Resolves when it exited (or failed to start). */
  readonly exit: Promise<ExitStatus>;
  /** True once it exited. */
  readonly exited: boolean;
  /** Why the sandbox could not run it (exit then resolves with neither code nor signal). */
  readonly startError: Error | undefined;
  /** Gives its output (buffered so far, then live) to these handlers. */
  attach(handlers: SpawnHandlers): void;
  /** Kills it (and what it started). */
  kill(): void;
}

export interface PrepareJobOptions {
  jobKey: string;
  /** Use this directory as workspace (exec -C); it is never deleted. */
  workspaceDir?: string;
}

export interface HostBackend {
  readonly name: string;
  prepareJob(opts: PrepareJobOptions): Promise<JobSandbox>;
}
