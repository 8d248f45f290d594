// Small helpers over cgroupfs files shared by the raw and delegated layers.

import { readFile, writeFile, rmdir, mkdir, access, readdir } from "node:fs/promises";
import { constants } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

export const CGROUP_ROOT = "/sys/fs/cgroup";

/** Controller (or "" for the v2 hierarchy) → own cgroup path, from /proc/<pid>/cgroup. */
export async function ownCgroupPaths(pid: number | "self" = "self"): Promise<Map<string, string>> {
  const text = await readFile(`/proc/${pid}/cgroup`, "utf8");
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, , ctrls, path] = m;
    if (ctrls === "") out.set("", path!);
    else for (const c of ctrls!.split(",")) out.set(c.replace(/^name=/, "name="), path!);
  }
  return out;
}

export async function exists(p: string): Promise<boolean> {
  try {
    await access(p, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

export async function writable(p: string): Promise<boolean> {
  try {
    await access(p, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export async function readPids(dir: string): Promise<number[]> {
  try {
    const text = await readFile(`${dir}/cgroup.procs`, "utf8");
    return text.split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * True when the cgroup could be read and holds no process: a v2 cgroup with `populated 0` in cgroup.events
 * (which counts its descendants too), a v1 cgroup with an empty cgroup.procs. A cgroup that cannot be read
 * (gone, or no permission) is not known to be empty.
 */
export async function knownEmpty(dir: string): Promise<boolean> {
  try {
    const events = await readFile(`${dir}/cgroup.events`, "utf8").catch(() => undefined);
    if (events !== undefined) return /^populated 0$/m.test(events);
    return (await readFile(`${dir}/cgroup.procs`, "utf8")).trim() === "";
  } catch {
    return false;
  }
}

/** Reads `key N` out of a flat-keyed file (memory.events, memory.oom_control). */
export async function readKey(file: string, key: string): Promise<number> {
  try {
    const text = await readFile(file, "utf8");
    const m = new RegExp(`^${key} (\\d+)$`, "m").exec(text);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export async function writeValue(file: string, value: string | number): Promise<void> {
  await writeFile(file, String(value));
}

export async function makeCgroup(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}

export async function movePid(dir: string, pid: number): Promise<void> {
  await writeFile(`${dir}/cgroup.procs`, String(pid));
}

/** Waits until the cgroup has no processes; false on timeout. */
export async function waitEmpty(dir: string, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await readPids(dir)).length === 0) return true;
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
}

/** Kills every process in a v2 cgroup: cgroup.kill, else freeze + SIGKILL each. */
export async function killV2(dir: string): Promise<void> {
  if (!(await exists(dir))) return;
  if (await exists(`${dir}/cgroup.kill`)) {
    await writeValue(`${dir}/cgroup.kill`, 1).catch(() => {});
  } else {
    await writeValue(`${dir}/cgroup.freeze`, 1).catch(() => {});
    for (const pid of await readPids(dir)) signal(pid);
    await writeValue(`${dir}/cgroup.freeze`, 0).catch(() => {});
  }
  if (!(await waitEmpty(dir, 2000))) {
    // Processes still exiting or forking during the kill: repeat.
    for (let i = 0; i < 20 && (await readPids(dir)).length > 0; i++) {
      for (const pid of await readPids(dir)) signal(pid);
      await sleep(50);
    }
  }
}

/** Kills every process in a v1 freezer cgroup: freeze, SIGKILL each, thaw. */
export async function killV1Freezer(dir: string): Promise<void> {
  if (!(await exists(dir))) return;
  for (let round = 0; round < 20; round++) {
    const pids = await readPids(dir);
    if (pids.length === 0) return;
    await writeValue(`${dir}/freezer.state`, "FROZEN").catch(() => {});
    for (let i = 0; i < 100; i++) {
      const state = await readFile(`${dir}/freezer.state`, "utf8").catch(() => "FROZEN");
      if (state.trim() === "FROZEN") break;
      await sleep(5);
    }
    for (const pid of await readPids(dir)) signal(pid);
    await writeValue(`${dir}/freezer.state`, "THAWED").catch(() => {});
    if (await waitEmpty(dir, 500)) return;
  }
}

/** Kills the listed processes one by one (used for v1 limit cgroups as a last sweep). */
export async function killListed(dir: string): Promise<void> {
  for (let round = 0; round < 20; round++) {
    const pids = await readPids(dir);
    if (pids.length === 0) return;
    for (const pid of pids) signal(pid);
    await sleep(20);
  }
}

/** rmdir that tolerates a missing cgroup and retries while it is still busy. */
export async function removeCgroup(dir: string): Promise<void> {
  const deadline = Date.now() + 3000;
  for (;;) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || Date.now() > deadline) throw err;
      await sleep(20);
    }
  }
}

function signal(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** Child cgroups of `dir` whose name starts with `prefix`. */
export async function childCgroups(dir: string, prefix: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory() && e.name.startsWith(prefix)).map((e) => `${dir}/${e.name}`);
}
