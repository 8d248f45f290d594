// The bubblewrap command line for one job process: read-only host, private
// /tmp, /proc and PID namespace, tmpfs over hidden paths and over the other
// jobs' roots, the job's own directories writable.

import { lstat, realpath } from "node:fs/promises";
import type { JobDirs } from "./sandbox.js";

export interface HiddenPath {
  path: string;
  kind: "dir" | "file";
}

/**
 * Resolves hidden paths (symlinks followed, missing ones skipped) and drops
 * those already covered by a hidden parent directory.
 */
export async function resolveHidden(paths: string[]): Promise<HiddenPath[]> {
  const found: HiddenPath[] = [];
  for (const p of paths) {
    if (!p) continue;
    const real = await realpath(p).catch(() => undefined);
    if (!real || real === "/") continue;
    const st = await lstat(real).catch(() => undefined);
    if (!st) continue;
    found.push({ path: real, kind: st.isDirectory() ? "dir" : "file" });
  }
  found.sort((a, b) => a.path.length - b.path.length);
  const out: HiddenPath[] = [];
  for (const h of found) {
    if (out.some((o) => o.kind === "dir" && (h.path === o.path || h.path.startsWith(o.path + "/")))) continue;
    out.push(h);
  }
  return out;
}

export interface BwrapPlan {
  hidden: HiddenPath[];
  /** Parent of all job roots: a tmpfs hides the other jobs. */
  jobsParent: string;
  dirs: JobDirs;
  /** bwrap itself runs as root: drop every capability inside. */
  asRoot: boolean;
  /** Shared directories put back read-only after the hiding (e.g. the fetched-actions cache). */
  readOnly?: string[];
}

export function bwrapArgs(plan: BwrapPlan, cwd: string): string[] {
  const a = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"];
  for (const h of plan.hidden) {
    if (h.kind === "dir") a.push("--tmpfs", h.path);
    else a.push("--ro-bind", "/dev/null", h.path);
  }
  a.push("--tmpfs", plan.jobsParent);
  a.push("--bind", plan.dirs.root, plan.dirs.root);
  if (!isInside(plan.dirs.workspace, plan.dirs.root)) a.push("--bind", plan.dirs.workspace, plan.dirs.workspace);
  for (const p of plan.readOnly ?? []) a.push("--ro-bind", p, p);
  a.push("--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session");
  if (plan.asRoot) a.push("--cap-drop", "ALL");
  a.push("--chdir", cwd);
  return a;
}

function isInside(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith("/") ? dir : dir + "/");
}
