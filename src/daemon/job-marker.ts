// Finding a job's processes again after the daemon died.
//
// Every process a task starts gets NATIVE_RUNNER_JOB=<marker> in its
// environment (inherited by everything it forks, daemons that leave the
// session included), and the sandbox's own kill hints (the isolating
// backends give the job uid; the format also takes process groups and
// cgroups) are journaled in the task's spool. A restarted daemon kills by
// marker (a /proc scan), by cgroup, and, on the same boot only (pids and
// groups are reused after a reboot), by process group and job uid. (Job
// cgroups and the uid range are also swept when the daemon starts.)

import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { ExitStatus, HostBackend, JobKillHints, SpawnHandlers, SpawnSpec } from "../host/sandbox.js";
import { killGroupsAndSessions, killUid, wrapSandbox } from "../host/index.js";

export const JOB_MARKER_ENV = "NATIVE_RUNNER_JOB";

/** The marker of one task: unique per runner instance (state dir) and task. */
export function jobMarker(stateDir: string, spoolKey: string): string {
  const instance = createHash("sha256").update(resolve(stateDir)).digest("hex").slice(0, 8);
  return `${instance}/${spoolKey}`;
}

/** This boot's id; pids, process groups and uids' processes mean nothing across a reboot. */
export function bootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "";
  }
}

/**
 * Wraps a host backend so that every process of the job carries the marker
 * and the sandbox's kill hints are reported as they change.
 */
export function markJobProcesses(
  host: HostBackend,
  marker: string,
  onHints?: (hints: JobKillHints) => void,
): HostBackend {
  return {
    name: host.name,
    async prepareJob(opts) {
      const sb = await host.prepareJob(opts);
      const report = () => {
        if (!onHints || !sb.killHints) return;
        try {
          onHints(sb.killHints());
        } catch {
          // hints are best effort
        }
      };
      report();
      const wrapped = wrapSandbox(sb, {
        // The worker gets the marker twice: in its own environment when it is started for the task, and here (its
        // steps' environment) when it was started ahead of the task, before the marker was known.
        get baseEnv() {
          return { ...sb.baseEnv, [JOB_MARKER_ENV]: marker };
        },
        spawn(spec: SpawnSpec, handlers: SpawnHandlers, signal: AbortSignal): Promise<ExitStatus> {
          const p = sb.spawn({ ...spec, env: { ...spec.env, [JOB_MARKER_ENV]: marker } }, handlers, signal);
          if (sb.killHints) setTimeout(report, 100).unref();
          return p;
        },
      });
      return wrapped;
    },
  };
}

/** Pids whose environment carries this marker. */
export async function markedProcesses(marker: string): Promise<number[]> {
  const needle = Buffer.from(`${JOB_MARKER_ENV}=${marker}\0`);
  const out: number[] = [];
  for (const name of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const env = await readFile(`/proc/${pid}/environ`).catch(() => undefined);
    if (!env || env.length === 0) continue;
    const at = env.indexOf(needle);
    if (at === 0 || (at > 0 && env[at - 1] === 0)) {
      const state = await readFile(`/proc/${pid}/stat`, "utf8").then(
        (s) => s.slice(s.lastIndexOf(")") + 2, s.lastIndexOf(")") + 3),
        () => "X",
      );
      if (state !== "Z" && state !== "X") out.push(pid);
    }
  }
  return out;
}

export interface LeftoverSpec {
  marker?: string;
  bootId?: string;
  processGroups?: number[];
  cgroups?: string[];
  uid?: number;
  gid?: number;
}

/** Kills whatever the job left running; returns how many marked processes were found. */
export async function killJobLeftovers(spec: LeftoverSpec, timeoutMs = 3000): Promise<number> {
  let found = 0;
  if (spec.marker) {
    const deadline = Date.now() + timeoutMs;
    const seen = new Set<number>();
    for (;;) {
      const pids = await markedProcesses(spec.marker);
      if (pids.length === 0 || Date.now() > deadline) break;
      for (const pid of pids) {
        seen.add(pid);
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone
        }
      }
      await sleep(20);
    }
    found = seen.size;
  }
  for (const dir of spec.cgroups ?? []) await killCgroup(dir);
  const sameBoot = spec.bootId !== undefined && spec.bootId !== "" && spec.bootId === bootId();
  if (sameBoot) {
    if (spec.processGroups && spec.processGroups.length > 0) await killGroupsAndSessions(spec.processGroups);
    if (spec.uid !== undefined && spec.uid > 0 && spec.uid !== process.getuid?.()) {
      await killUid(spec.uid, spec.gid ?? spec.uid).catch(() => []);
    }
  }
  return found;
}

async function killCgroup(dir: string): Promise<void> {
  const abs = resolve(dir);
  if (!abs.startsWith("/sys/fs/cgroup/") || !existsSync(abs)) return;
  if (existsSync(join(abs, "cgroup.kill"))) {
    await writeFile(join(abs, "cgroup.kill"), "1").catch(() => {});
  }
  for (let i = 0; i < 50; i++) {
    const procs = await readFile(join(abs, "cgroup.procs"), "utf8").catch(() => "");
    const pids = procs.split("\n").filter((l) => /^\d+$/.test(l)).map(Number);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    await sleep(20);
  }
}
