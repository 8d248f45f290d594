// Per-job directories: <parent>/<job>-<rand>/{workspace,tmp,home,tool_cache}.
// With a per-job uid the job root is owned by that uid, mode 0700, so no
// other job uid can even traverse it.

import { chmod, chown, lstat, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import type { JobDirs } from "./sandbox.js";
import type { Identity } from "./cgroup/types.js";

const run = promisify(execFile);

export function sanitizeJobKey(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 64) || "job";
}

export interface CreateJobDirsOptions {
  parent: string;
  jobKey: string;
  workspaceDir?: string;
  identity?: Identity;
  /** setfacl binary: lets the job uid write files the runner creates in its dirs. */
  setfacl?: string;
}

export async function createJobDirs(opts: CreateJobDirsOptions): Promise<JobDirs> {
  // 0711: job uids may pass through to their own root but cannot list the others.
  await mkdir(opts.parent, { recursive: true, mode: 0o711 });
  const root = join(opts.parent, `${sanitizeJobKey(opts.jobKey)}-${randomBytes(4).toString("hex")}`);
  const dirs: JobDirs = {
    root,
    workspace: opts.workspaceDir ?? join(root, "workspace"),
    temp: join(root, "tmp"),
    home: join(root, "home"),
    toolCache: join(root, "tool_cache"),
  };
  await mkdir(root, { mode: 0o700 });
  const own = [dirs.temp, dirs.home, dirs.toolCache];
  if (opts.workspaceDir === undefined) own.unshift(dirs.workspace);
  else await mkdir(opts.workspaceDir, { recursive: true });
  for (const d of own) await mkdir(d, { recursive: true, mode: 0o700 });
  if (opts.identity) {
    const { uid, gid } = opts.identity;
    // git needs an identity and a HOME; there is no passwd entry for this uid.
    // A config file (not GIT_* variables) so a workflow's `git config user.name` still wins.
    await writeFile(
      join(dirs.home, ".gitconfig"),
      `[user]\n\tname = native-runner job\n\temail = job-${uid}@native-runner.invalid\n`,
      { mode: 0o600 },
    );
    for (const p of [root, ...own, join(dirs.home, ".gitconfig")]) await chown(p, uid, gid);
    if (opts.setfacl) {
      // Files the runner (root) writes later (GITHUB_ENV, event.json, ...) stay
      // writable for the job through the inherited default ACL.
      await run(opts.setfacl, ["-R", "-m", `u:${uid}:rwX,d:u:${uid}:rwX,d:m::rwx`, root]).catch(() => {});
    }
  }
  return dirs;
}

/** Removes the job root (never an exec -C workspace, which lives outside it). */
export async function removeJobDirs(dirs: JobDirs): Promise<void> {
  try {
    await rm(dirs.root, { recursive: true, force: true, maxRetries: 3 });
  } catch (err) {
    // A non-root runner meets directories the job made read-only (Go module caches).
    if ((err as NodeJS.ErrnoException).code !== "EACCES" && (err as NodeJS.ErrnoException).code !== "EPERM") throw err;
    await makeWritable(dirs.root);
    await rm(dirs.root, { recursive: true, force: true, maxRetries: 3 });
  }
}

async function makeWritable(dir: string): Promise<void> {
  const st = await lstat(dir).catch(() => undefined);
  if (!st || !st.isDirectory()) return;
  await chmod(dir, 0o700).catch(() => {});
  for (const name of await readdir(dir).catch(() => [] as string[])) await makeWritable(join(dir, name));
}
