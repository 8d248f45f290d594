// Per-job directories: <parent>/<job>-<rand>/{workspace,tmp,home,tool_cache,_actions}.
// The job root itself belongs to the runner (0711 with a per-job uid, so the
// job can pass through but neither list nor rename anything in it); the
// directories below belong to the job. The runner creates them before any job
// process exists and never opens a path below them again: it removes them
// with GNU rm (which never follows a symlink), as the job uid where there is one.
// Without a job uid (the job runs as the runner, no boundary between them) a
// directory that holds only files is removed in-process.

import { lstat, mkdir, open, readdir, rm, rmdir, unlink } from "node:fs/promises";
import { chownSync, constants, lstatSync, mkdirSync, opendirSync, readdirSync, readFileSync, realpathSync, rmdirSync, unlinkSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { randomHex } from "./random.js";
import { join } from "node:path";
import type { JobDirs } from "./sandbox.js";
import type { Identity } from "./cgroup/types.js";
import { SYSTEM_BIN_DIRS, which } from "./detect.js";
import { wrapperEnv } from "./launch.js";

/** File in every job root naming the runner instance that made it (for the sweep at start). */
export const JOB_ROOT_MARKER = ".native-runner-job";

export function sanitizeJobKey(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 64) || "job";
}

export interface CreateJobDirsOptions {
  parent: string;
  jobKey: string;
  workspaceDir?: string;
  identity?: Identity;
  /** Written into the job root's marker file; the start-up sweep removes only its own instance's roots. */
  instance?: string;
}

export async function createJobDirs(opts: CreateJobDirsOptions): Promise<JobDirs> {
  const root = join(opts.parent, `${sanitizeJobKey(opts.jobKey)}-${randomHex(4)}`);
  const dirs: JobDirs = {
    root,
    workspace: opts.workspaceDir ?? join(root, "workspace"),
    temp: join(root, "tmp"),
    home: join(root, "home"),
    toolCache: join(root, "tool_cache"),
  };
  // A handful of system calls on paths no job has seen yet: made synchronously, they take a tenth of the time
  // the same calls take through the thread pool (one event-loop turn each), and block for well under 1 ms.
  // 0711: job uids may pass through to their own root but cannot list the others.
  mkdirSync(opts.parent, { recursive: true, mode: 0o711 });
  // Fails if the name exists: the runner only ever works in a root it just made.
  mkdirSync(root, { mode: opts.identity ? 0o711 : 0o700 });
  writeFileSync(join(root, JOB_ROOT_MARKER), `${opts.instance ?? ""}\n`, { mode: 0o644, flag: "wx" });
  const own = ownedDirs(dirs, opts.workspaceDir === undefined);
  if (opts.workspaceDir !== undefined) await mkdir(opts.workspaceDir, { recursive: true });
  for (const d of own) {
    mkdirSync(d, { mode: 0o700 });
    if (opts.identity) chownSync(d, opts.identity.uid, opts.identity.gid);
  }
  return dirs;
}

function ownedDirs(dirs: JobDirs, withWorkspace: boolean): string[] {
  const own = [dirs.temp, dirs.home, dirs.toolCache, join(dirs.root, "_actions")];
  if (withWorkspace) own.unshift(dirs.workspace);
  return own;
}

/**
 * Removes the job root (never an exec -C workspace, which lives outside it).
 * The job's directories are emptied by `rm -rf --one-file-system` run as the
 * job uid (so nothing the job could not delete itself is touched), then the
 * runner removes the empty directories and the root.
 */
export async function removeJobDirs(dirs: JobDirs, identity?: Identity, opts: { unsandboxed?: boolean } = {}): Promise<void> {
  const entries = (): string[] => {
    let names: string[];
    try {
      names = readdirSync(dirs.root); // the runner's own directory, a few names
    } catch {
      names = [];
    }
    return names.filter((n) => n !== JOB_ROOT_MARKER).map((n) => join(dirs.root, n));
  };
  let own = entries();
  if (!identity) {
    // Without a job uid the job may have mounted something below its root (a chroot's /proc, a bind mount of a
    // host directory: rm --one-file-system only stops at another device). Nothing below a mount is removed.
    const mount = await mountBelow(dirs.root);
    if (mount) throw new Error(`${mount} is mounted inside the job's directory: not removed (unmount it: the runner tries again at its next start)`);
    own = opts.unsandboxed ? await removeTrees(own) : await removeFlat(own);
  }
  if (identity && own.length > 0) {
    // As the job: empty its own directories (the runner-owned root keeps their names in place).
    // rm's last step (removing the directory itself) fails here, on purpose.
    const inside = own.map((d) => `${d}/`);
    await tool("rm", ["-rf", "--one-file-system", "--", ...inside], identity);
    for (const d of own) await rmdir(d).catch(() => {});
    own = entries();
    if (own.length > 0) {
      await makeWritable(own.map((d) => `${d}/`), identity);
      await tool("rm", ["-rf", "--one-file-system", "--", ...own.map((d) => `${d}/`)], identity);
      for (const d of own) await rmdir(d).catch(() => {});
      own = entries();
    }
  }
  if (own.length > 0) {
    const r = await emptyTrees(own);
    if (r.code !== 0) throw new Error(`rm -rf in ${dirs.root}: ${r.err.trim() || `exit code ${r.code}`}`);
  }
  await unlink(join(dirs.root, JOB_ROOT_MARKER)).catch(() => {});
  await rmdir(dirs.root).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw err;
  });
}

/**
 * Isolation `none`: the job ran as the runner with nothing around it, so
 * whatever a removal could be steered to, the job could reach itself. Whole
 * trees are removed in-process (links are unlinked, never followed), which
 * saves spawning rm for every job (a fork of the whole runner: about 4 ms
 * each, a tenth of a 20-job matrix). What fails (a directory the job made
 * read-only) is left to rm.
 */
async function removeTrees(paths: string[]): Promise<string[]> {
  const left: string[] = [];
  const budget = { ops: SYNC_REMOVE_BUDGET };
  for (const d of paths) {
    try {
      // A short job leaves a few files: removed synchronously, without a thread-pool round trip per call (a
      // quarter of the time). A larger tree goes on asynchronously once the budget is spent, so a job's big
      // checkout never blocks the event loop for long.
      if (!removeTreeSync(d, budget)) await rm(d, { recursive: true, force: true });
    } catch {
      left.push(d);
    }
  }
  return left;
}

/** System calls a removal may make synchronously, per job (each well under 0.1 ms on a local file system). */
const SYNC_REMOVE_BUDGET = 200;

/**
 * Removes `path` (links unlinked, never followed) while `budget.ops` lasts; false when it ran out first (what
 * is left is still there). Throws what rm -rf would fail on.
 */
function removeTreeSync(path: string, budget: { ops: number }, isDirectory?: boolean): boolean {
  if ((budget.ops -= 2) < 0) return false;
  if (isDirectory === undefined) {
    // readdir follows a link: what is there is looked at first (below, the directory entry's type says).
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st) return true;
    if (!st.isDirectory()) {
      unlinkSync(path);
      return true;
    }
  }
  // Read a few entries at a time, not the whole directory: one with a million names must not block either.
  const dir = opendirSync(path);
  try {
    for (let e = dir.readSync(); e !== null; e = dir.readSync()) {
      const p = join(path, e.name);
      if (e.isDirectory()) {
        if (!removeTreeSync(p, budget, true)) return false;
      } else {
        if (--budget.ops < 0) return false;
        unlinkSync(p);
      }
    }
  } finally {
    dir.closeSync();
  }
  if (--budget.ops < 0) return false;
  rmdirSync(path);
  return true;
}

async function mountBelow(root: string): Promise<string | undefined> {
  let text: string;
  let real: string;
  try {
    real = realpathSync(root);
  } catch {
    return undefined; // no root, nothing to remove
  }
  try {
    text = readFileSync("/proc/self/mountinfo", "utf8"); // procfs: no disk wait, and a thread-pool hop costs more
  } catch {
    return undefined; // no procfs: as before, rm --one-file-system is the only guard
  }
  for (const line of text.split("\n")) {
    const field = line.split(" ")[4];
    if (!field) continue;
    // Spaces, tabs, newlines and backslashes are octal escapes in mountinfo.
    const point = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (point === real || point.startsWith(`${real}/`)) return point;
  }
  return undefined;
}

/**
 * Without a job uid the job runs as the runner: a directory that holds only
 * files (a short job's usual leftovers) is emptied and removed in-process
 * (unlink never follows a link), which saves spawning rm for every job. A
 * directory with a directory in it, a path that is not a directory (a job
 * may put a link in place of its tmp) or any error leaves the path to rm.
 */
async function removeFlat(paths: string[]): Promise<string[]> {
  const left: string[] = [];
  for (const d of paths) {
    try {
      if (!(await lstat(d)).isDirectory()) throw new Error("not a directory");
      const items = await readdir(d, { withFileTypes: true });
      if (items.some((e) => e.isDirectory())) throw new Error("a tree");
      for (const e of items) await unlink(join(d, e.name));
      await rmdir(d);
    } catch {
      left.push(d);
    }
  }
  return left;
}

/** rm -rf; where that fails on directories a job made read-only, make them writable (find never follows links) and retry. */
async function emptyTrees(paths: string[], identity?: Identity): Promise<{ code: number | null; err: string }> {
  const rm = ["-rf", "--one-file-system", "--", ...paths];
  const first = await tool("rm", rm, identity);
  if (first.code === 0) return first;
  await makeWritable(paths, identity);
  return tool("rm", rm, identity);
}

function makeWritable(paths: string[], identity?: Identity): Promise<unknown> {
  return tool("find", ["-P", ...paths, "-type", "d", "!", "-perm", "-u=rwx", "-exec", "chmod", "u+rwx", "--", "{}", "+"], identity);
}

/** Removes job roots of this runner instance left by an earlier run (its processes are already killed). */
export async function sweepJobDirs(parent: string, instance: string): Promise<number> {
  let n = 0;
  const failed: string[] = [];
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    const root = join(parent, name);
    const mark = await readNoFollow(join(root, JOB_ROOT_MARKER));
    if (mark === undefined || mark.trim() !== instance) continue;
    try {
      await removeJobDirs({ root, workspace: join(root, "workspace"), temp: join(root, "tmp"), home: join(root, "home"), toolCache: join(root, "tool_cache") });
      n++;
    } catch (err) {
      failed.push((err as Error).message); // one root that cannot go does not keep the others
    }
  }
  if (failed.length > 0) throw new Error(`${n} removed; ${failed.join("; ")}`);
  return n;
}

async function readNoFollow(path: string): Promise<string | undefined> {
  try {
    const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const buf = Buffer.alloc(256);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      return buf.subarray(0, bytesRead).toString();
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
}

function tool(name: string, args: string[], identity?: Identity): Promise<{ code: number | null; err: string }> {
  const bin = which(name, SYSTEM_BIN_DIRS, "") ?? name;
  return new Promise((resolve) => {
    const child = spawn(bin, args, {
      env: wrapperEnv(),
      stdio: ["ignore", "ignore", "pipe"],
      cwd: "/",
      ...(identity ? { uid: identity.uid, gid: identity.gid } : {}),
    });
    let err = "";
    child.stderr!.on("data", (c: Buffer) => {
      if (err.length < 4096) err += c.toString();
    });
    child.once("error", (e) => resolve({ code: -1, err: e.message }));
    child.once("close", (code) => resolve({ code, err }));
  });
}
