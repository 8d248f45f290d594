// What the daemon tells the outside about itself (status file, metrics,
// systemd). Every hook is optional and must not throw.

import type { Conclusion } from "../engine/events.js";

export interface TaskInfo {
  taskId: string;
  connection: string;
  repository: string;
  job: string;
  /** The job's `runs-on` labels, comma-joined (metrics label). */
  runsOn?: string;
}

export interface DaemonObserver {
  taskStarted?(task: TaskInfo): void;
  taskFinished?(task: TaskInfo & { result: Conclusion; durationMs: number; reported: boolean }): void;
  /** Time from receiving the task to its first step starting. */
  firstStepStarted?(task: TaskInfo, latencyMs: number): void;
  stepFinished?(task: TaskInfo, durationMs: number): void;
  /** A call to this connection got an answer. */
  contact?(connection: string, url: string): void;
  fetchError?(connection: string, url: string, code: string, message: string): void;
  reportError?(rpc: "UpdateLog" | "UpdateTask", code: string): void;
  /** Log bytes journaled in task spools and not yet acknowledged by Forgejo (sampled). */
  spoolBacklog?(bytes: number): void;
  /** Store paths kept alive by the runner's GC roots, and their closure size. */
  nixUsage?(roots: number, bytes: number): void;
  /** A job's cache lookup (hit or miss), or bytes it saved or restored. */
  cacheActivity?(a: { kind: "lookup"; hit: boolean } | { kind: "upload" | "download"; bytes: number }): void;
}

/** Calls a hook, swallowing whatever it throws. */
export function notify<K extends keyof DaemonObserver>(
  observer: DaemonObserver | undefined,
  hook: K,
  ...args: Parameters<NonNullable<DaemonObserver[K]>>
): void {
  const fn = observer?.[hook] as ((...a: unknown[]) => void) | undefined;
  if (!fn) return;
  try {
    fn.apply(observer, args);
  } catch {
    // observers must not break the daemon
  }
}
