// Process discovery through /proc, for kills that have no cgroup to rely on:
// by session/process group (escaped background jobs) and by uid (per-job uids).

import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";

export interface ProcInfo {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  uid: number;
  /** One-letter state; "Z" (zombie) and "X" (dead) hold no resources and ignore signals. */
  state: string;
  /** Start time in clock ticks after boot. */
  start: number;
}

/** When `pid` started, in clock ticks after boot (the clock of ProcInfo.start); undefined if it is gone. */
export function processStart(pid: number): number | undefined {
  return readProcSync(pid, false)?.start;
}

/** Processes read between two turns of the event loop (a sweep of a busy host must not stall the daemon). */
const BATCH = 128;

/**
 * Every process on the host. `uid: false` skips /proc/PID/status (the uid is then -1): sweeps by process group
 * or session need only /proc/PID/stat, one small read per process. The reads are synchronous, in batches:
 * /proc files are generated in memory, and one threadpool round trip per open/stat/read/close cost far more
 * than the read itself.
 */
export async function listProcesses(opts: { uid?: boolean; mark?: PidMark } = {}): Promise<ProcInfo[]> {
  const out: ProcInfo[] = [];
  // With a mark, processes whose pids were handed out before it are not read (see allocatedSince).
  const maybeNew = opts.mark ? allocatedSince(opts.mark) : undefined;
  const pids = (await readdir("/proc")).filter((n) => /^\d+$/.test(n) && (!maybeNew || maybeNew(Number(n))));
  for (let i = 0; i < pids.length; i++) {
    if (i > 0 && i % BATCH === 0) await yieldToLoop();
    const info = readProcSync(Number(pids[i]), opts.uid !== false);
    if (info) out.push(info);
  }
  return out;
}

export async function readProc(pid: number): Promise<ProcInfo | undefined> {
  return readProcSync(pid, true);
}

function readProcSync(pid: number, withUid: boolean): ProcInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm may contain spaces and parentheses: fields start after the last ")".
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ", 20);
    const uid = withUid ? /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8")) : null;
    return {
      pid,
      ppid: Number(rest[1]),
      pgid: Number(rest[2]),
      sid: Number(rest[3]),
      uid: uid ? Number(uid[1]) : -1,
      state: rest[0] ?? "?",
      start: Number(rest[19]),
    };
  } catch {
    return undefined;
  }
}

function kill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // gone
  }
}

/** SIGKILLs processes matching `pred` until none is left (or timeout); returns what remained. */
export async function killMatching(pred: (p: ProcInfo) => boolean, timeoutMs = 3000, opts: { uid?: boolean; since?: number; mark?: PidMark } = {}): Promise<ProcInfo[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const listed = opts.since !== undefined ? await listStartedSince(opts.since, pred, opts.mark) : undefined;
    const found = (listed ?? (await listProcesses(opts))).filter((p) => p.pid !== process.pid && p.state !== "Z" && p.state !== "X" && pred(p));
    if (found.length === 0 || Date.now() > deadline) return found;
    for (const p of found) kill(p.pid);
    await sleep(20);
  }
}

/**
 * Kills everything running as `uid`: first `kill -9 -1` from a process with
 * that uid (one syscall reaches every process of the uid, so a fork bomb
 * cannot outrun it), then a /proc sweep until nothing is left.
 */
export async function killUid(uid: number, gid: number, mark?: PidMark): Promise<ProcInfo[]> {
  if (uid === 0 || uid === process.getuid?.()) throw new Error(`refusing to kill every process of uid ${uid}`);
  await new Promise<void>((resolve) => {
    const child = spawn("/bin/sh", ["-c", "kill -9 -1"], { uid, gid, stdio: "ignore", env: {} });
    child.once("error", () => resolve());
    child.once("close", () => resolve());
  });
  // A job uid has no process older than the job's first (the pool hands out a uid only when it owns no process,
  // and takes it back only once nothing of it is left): with the job's mark only newer processes are read.
  return killMatching((p) => p.uid === uid, 3000, mark ? { mark } : {});
}

/**
 * The processes that can belong to a group or session made at or after
 * `since` (clock ticks after boot), without reading every process on the
 * host: a job's processes descend from this process, and an orphan is
 * adopted by an ancestor of the process that died (a subreaper, or init),
 * so they are all in the subtrees below this process and its ancestors. A
 * process that started before `since` can neither be one of them nor have
 * started one, so its subtree is skipped (what `keep` matches is always
 * descended into). Undefined where /proc has no children lists or hides an
 * ancestor: then read every process.
 */
export async function listStartedSince(since: number, keep: (p: ProcInfo) => boolean, mark?: PidMark): Promise<ProcInfo[] | undefined> {
  // A process that got its pid before `mark` started before the job: neither it nor its subtree is read. Without
  // this, every child of init costs a read, and a host's processes are mostly children of init.
  const maybeNew = mark ? allocatedSince(mark) : undefined;
  const roots: ProcInfo[] = [];
  // An orphan may be adopted by any ancestor up to init: a chain that stops short (an ancestor /proc hides, as
  // with hidepid) leaves subtrees unwalked, so the caller reads every process it can see instead.
  let complete = false;
  for (let pid = process.pid; pid > 0 && roots.length < 64; ) {
    const info = readProcSync(pid, false);
    if (!info) break;
    roots.push(info);
    if (info.ppid === pid) break;
    if (info.ppid === 0) complete = true;
    pid = info.ppid;
  }
  if (!complete) return undefined;
  const out: ProcInfo[] = [];
  const seen = new Set<number>(roots.map((r) => r.pid));
  const queue: number[] = [];
  for (const r of roots) {
    // The runner and its ancestors started before the job. A job process is a child of the runner's main thread
    // (the runner spawns only from there) or, orphaned, of an ancestor's: the kernel hands an orphan to the
    // adopting process's leader thread while that thread is alive. So one children list per ancestor, not one
    // per thread (a Node ancestor has a dozen), unless the leader has exited. A job process's own children are
    // read from all its threads below: a multithreaded program forks from any of them.
    const kids = r.state === "Z" || r.state === "X" ? childrenOf(r.pid) : threadChildren(r.pid, r.pid);
    if (kids === undefined) return undefined;
    queue.push(...kids);
  }
  for (let i = 0; i < queue.length; i++) {
    if (i > 0 && i % BATCH === 0) await yieldToLoop();
    const pid = queue[i]!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    if (maybeNew && !maybeNew(pid)) continue;
    const info = readProcSync(pid, false);
    if (!info) continue;
    out.push(info);
    if (info.start >= since || keep(info)) queue.push(...(childrenOf(pid) ?? []));
  }
  return out;
}

/** Children of one thread (undefined: no children lists in /proc; [] if the thread is gone). */
function threadChildren(pid: number, tid: number | string): number[] | undefined {
  let list: string;
  try {
    list = readFileSync(`/proc/${pid}/task/${tid}/children`, "latin1");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && pid === process.pid) return undefined;
    return [];
  }
  const out: number[] = [];
  for (const n of list.split(" ")) if (n !== "") out.push(Number(n));
  return out;
}

/** Children of every thread of `pid` (undefined: no children lists in /proc). */
function childrenOf(pid: number): number[] | undefined {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const tid of tids) {
    const kids = threadChildren(pid, tid);
    if (kids === undefined) return undefined;
    out.push(...kids);
  }
  return out;
}

/** Where the kernel's pid counter stood, and how many processes and threads had been made since boot. */
export interface PidMark {
  lastPid: number;
  forks: number;
}

/** Allowance for forks between a mark and what it stands for, and for pids the counter skips. */
const PID_MARGIN = 1000;

/** The pid counter of this process's PID namespace now; undefined where /proc does not tell it. */
export function pidMark(): PidMark | undefined {
  try {
    // /proc must be this namespace's: its pids are then the ones the counter hands out.
    if (Number(readlinkSync("/proc/self")) !== process.pid) return undefined;
    const lastPid = Number(readFileSync("/proc/sys/kernel/ns_last_pid", "latin1"));
    const forks = /^processes (\d+)$/m.exec(readFileSync("/proc/stat", "latin1"))?.[1];
    if (!Number.isSafeInteger(lastPid) || forks === undefined) return undefined;
    return { lastPid, forks: Number(forks) };
  } catch {
    return undefined;
  }
}

/**
 * Whether a pid was handed out since `mark`, or undefined when the answer could be wrong. The kernel hands out
 * pids in a cycle: after `mark.lastPid`, up to pid_max, then from the bottom again. Those handed out since lie
 * between the mark and the counter now, unless the counter went all the way round, which takes at least one
 * fork per free pid (/proc/stat counts every process and thread made, in every namespace: never fewer).
 */
export function allocatedSince(mark: PidMark): ((pid: number) => boolean) | undefined {
  const now = pidMark();
  if (!now) return undefined;
  let pidMax: number;
  let tasks: number;
  try {
    pidMax = Number(readFileSync("/proc/sys/kernel/pid_max", "latin1"));
    tasks = Number(readFileSync("/proc/loadavg", "latin1").split(" ")[3]?.split("/")[1]);
  } catch {
    return undefined;
  }
  if (!Number.isSafeInteger(pidMax) || !Number.isSafeInteger(tasks)) return undefined;
  if (now.forks - mark.forks + PID_MARGIN >= pidMax - tasks - PID_MARGIN) return undefined;
  return handedOutAfter(mark.lastPid, now.lastPid);
}

/** The pids a counter hands out after `from` up to `to`, going round past pid_max when `to` is below `from`. */
export function handedOutAfter(from: number, to: number): (pid: number) => boolean {
  return from <= to ? (pid) => pid > from && pid <= to : (pid) => pid > from || pid <= to;
}

/**
 * The processes that lead a job's process groups and sessions (its steps), and when the first of them started:
 * what a job-end sweep looks for, among only the processes started since.
 */
export class StepLeaders {
  private readonly pids = new Set<number>();
  /** Clock ticks after boot; null once a leader's start could not be read (the sweep then reads every process). */
  private since: number | null | undefined;
  /** The pid counter before the first leader was started; null where it cannot be read. */
  private mark: PidMark | null | undefined;

  /** Called before each leader is started: the first call notes where the pid counter is. */
  beforeLaunch(): void {
    this.mark ??= pidMark() ?? null;
  }

  add(pid: number): void {
    this.pids.add(pid);
    if (this.since === null) return;
    // The earliest start, not the first added: two launches may resolve in the other order.
    const start = processStart(pid);
    this.since = start === undefined ? null : Math.min(start, this.since ?? start);
  }

  /** The pid counter before the first leader started, where /proc tells it. */
  get counterMark(): PidMark | undefined {
    return this.mark ?? undefined;
  }

  /** Kills the groups and sessions and what is left in them. */
  kill(): Promise<void> {
    return killGroupsAndSessions(this.pids, this.since ?? undefined, this.mark ?? undefined);
  }
}

/**
 * Kills process groups and sessions led by the given pids (and what is left in them). With `since` (clock
 * ticks after boot, before the first leader started) only processes that started since are looked at.
 */
export async function killGroupsAndSessions(leaders: Iterable<number>, since?: number, mark?: PidMark): Promise<void> {
  const set = new Set(leaders);
  if (set.size === 0) return;
  for (const pid of set) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // no such group
    }
  }
  await killMatching((p) => set.has(p.pgid) || set.has(p.sid), 1000, { uid: false, ...(since !== undefined ? { since } : {}), ...(mark ? { mark } : {}) });
}
