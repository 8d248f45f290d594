// Durable per-task journal under `<state dir>/spool/<key>/`, so that log rows
// and results survive a Forgejo outage of any length and a runner crash.
//
//   meta.json   who the task is (connection, task id, repo, job) and how to
//               kill what it left running (process groups, cgroups, uid)
//   rows        one JSON row per line ({"t": ms, "c": content}); the row's
//               absolute index is its line number
//   state.json  the latest step states / result / outputs, replaced atomically
//   ack         the server's ack index, replaced atomically
//   done        present once the final report was acknowledged
//
// Only rows at or past the ack are ever read back; memory holds a bounded
// window, everything else stays on disk.

import { closeSync, fsync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomUUID } from "node:crypto";

export interface SpoolMeta {
  connection: string;
  taskId: string;
  repository: string;
  job: string;
  stepCount: number;
  startedAt: string;
  /** The daemon that ran it (to tell our own live tasks from orphans). */
  daemonPid: number;
  /** Random id of that daemon process (pids repeat: PID 1 in a container). */
  daemonInstance?: string;
  /** Kill hints for crash recovery. */
  processGroups?: number[];
  cgroups?: string[];
  uid?: number;
  gid?: number;
  /** NATIVE_RUNNER_JOB value in the environment of the job's processes. */
  marker?: string;
  /** Boot the hints belong to (pids and groups are reused after a reboot). */
  bootId?: string;
}

/** Identifies this daemon process in spool metas. */
export const DAEMON_INSTANCE = randomUUID();

export interface SpoolRow {
  time: Date;
  content: string;
}

/** One step as the reporter last journaled it (times in epoch ms, result as the protocol's enum number). */
export interface SpooledStep {
  result: number;
  startedAt?: number;
  stoppedAt?: number;
  logIndex: number;
  logLength: number;
}

/**
 * The task state journaled at step boundaries. `final` is set (and the
 * closing row journaled) before the final report goes out: a spool with
 * `final` only needs delivering; one without was interrupted.
 */
export interface SpooledTaskState {
  startedAt: number;
  steps: SpooledStep[];
  final?: { result: number; stoppedAt: number; outputs: Record<string, string>; restarted?: boolean };
}

export interface SpooledState {
  result?: string;
  outputs?: Record<string, string>;
  steps?: unknown[];
  stoppedAt?: string;
  [k: string]: unknown;
}

async function writeAtomic(file: string, data: string, durable = false): Promise<void> {
  const tmp = `${file}.tmp`;
  if (durable) {
    const fh = await open(tmp, "w", 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } else {
    await writeFile(tmp, data, { mode: 0o600 });
  }
  await rename(tmp, file);
}

export class TaskSpool {
  private fd: number;
  /**
   * Byte offset of each row's line: row `indexBase + i` starts at
   * `offsets[offsetsHead + i]` (acknowledged entries are dropped in bulk).
   */
  private offsets: number[] = [];
  private offsetsHead = 0;
  private indexBase = 0;
  private size = 0;
  private rowCount = 0;
  private unsynced = 0;
  private closed = false;

  private constructor(readonly dir: string, fd: number) {
    this.fd = fd;
  }

  static async create(root: string, key: string, meta: SpoolMeta): Promise<TaskSpool> {
    const dir = join(root, key);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeAtomic(join(dir, "meta.json"), JSON.stringify(meta) + "\n", true);
    const fd = openSync(join(dir, "rows"), "a+", 0o600);
    const sp = new TaskSpool(dir, fd);
    await sp.scanExisting();
    return sp;
  }

  /** Reopen an existing spool (crash recovery). */
  static async open(dir: string): Promise<TaskSpool> {
    const fd = openSync(join(dir, "rows"), "a+", 0o600);
    const sp = new TaskSpool(dir, fd);
    await sp.scanExisting();
    return sp;
  }

  /** Indexes the rows already in the journal, reading it in chunks (it may be large after a long outage). */
  private async scanExisting(): Promise<void> {
    const chunk = Buffer.alloc(1 << 20);
    let pos = 0;
    let start = 0;
    for (;;) {
      const n = readSync(this.fd, chunk, 0, chunk.length, pos);
      if (n === 0) break;
      for (let i = chunk.indexOf(0x0a, 0); i >= 0 && i < n; i = chunk.indexOf(0x0a, i + 1)) {
        this.offsets.push(start);
        start = pos + i + 1;
      }
      pos += n;
    }
    // A torn last line (crash mid-write) is dropped: it was never reported.
    this.size = start;
    this.rowCount = this.offsets.length;
    if (start < pos) ftruncateSync(this.fd, start);
  }

  get rows(): number {
    return this.rowCount;
  }

  get bytes(): number {
    return this.size;
  }

  async meta(): Promise<SpoolMeta> {
    return JSON.parse(await readFile(join(this.dir, "meta.json"), "utf8")) as SpoolMeta;
  }

  async updateMeta(patch: Partial<SpoolMeta>): Promise<void> {
    const m = { ...(await this.meta()), ...patch };
    await writeAtomic(join(this.dir, "meta.json"), JSON.stringify(m) + "\n");
  }

  /** Appends rows; returns the absolute index of the first one. */
  append(rows: SpoolRow[]): number {
    const first = this.rowCount;
    if (rows.length === 0) return first;
    let text = "";
    // Byte for byte JSON.stringify({ t, c }), without an object per row.
    for (const r of rows) text += `{"t":${r.time.getTime()},"c":${JSON.stringify(r.content)}}\n`;
    const data = Buffer.from(text);
    let pos = this.size;
    let at = 0;
    try {
      while (at < data.length) at += writeSync(this.fd, data, at, data.length - at);
    } catch (err) {
      // ENOSPC, EIO, EDQUOT…: drop a partly written batch so the journal
      // stays whole lines, and let the caller decide (the rows are its own).
      if (at > 0) {
        try {
          ftruncateSync(this.fd, this.size);
        } catch {
          // the torn line is dropped when the journal is opened again
        }
      }
      throw err;
    }
    // Content is JSON-escaped, so every newline ends a row.
    for (let i = data.indexOf(0x0a); i >= 0; i = data.indexOf(0x0a, i + 1)) {
      this.offsets.push(pos);
      pos = this.size + i + 1;
    }
    this.size += data.length;
    this.rowCount += rows.length;
    this.unsynced += rows.length;
    return first;
  }

  /** fsync the rows file (call at step boundaries and before final reports). */
  sync(): void {
    if (this.unsynced === 0 || this.closed) return;
    fsyncSync(this.fd);
    this.unsynced = 0;
  }

  /** sync() without blocking the event loop (fsync runs in the thread pool). */
  async syncAsync(): Promise<void> {
    if (this.unsynced === 0 || this.closed) return;
    const pending = this.unsynced;
    await new Promise<void>((resolve, reject) => fsync(this.fd, (err) => (err ? reject(err) : resolve())));
    this.unsynced = Math.max(0, this.unsynced - pending);
  }

  /** Reads up to `max` rows (and at most `maxBytes`) starting at absolute index `from`. */
  read(from: number, max: number, maxBytes = 4 * 1024 * 1024): SpoolRow[] {
    const out: SpoolRow[] = [];
    if (from < this.indexBase || from >= this.rowCount) return out;
    const startOff = this.offsets[this.offsetsHead + from - this.indexBase]!;
    let endIdx = Math.min(this.rowCount, from + max);
    let endOff = endIdx < this.rowCount ? this.offsets[this.offsetsHead + endIdx - this.indexBase]! : this.size;
    while (endOff - startOff > maxBytes && endIdx > from + 1) {
      endIdx--;
      endOff = this.offsets[this.offsetsHead + endIdx - this.indexBase]!;
    }
    const buf = Buffer.alloc(endOff - startOff);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(this.fd, buf, got, buf.length - got, startOff + got);
      if (n === 0) break;
      got += n;
    }
    for (const line of buf.toString("utf8").split("\n")) {
      if (!line) continue;
      const r = JSON.parse(line) as { t: number; c: string };
      out.push({ time: new Date(r.t), content: r.c });
    }
    return out;
  }

  /** Forget offsets below the ack (memory stays bounded by the unacked backlog). */
  async setAck(ack: number): Promise<void> {
    if (ack > this.indexBase && ack <= this.rowCount) {
      this.offsetsHead += ack - this.indexBase;
      this.indexBase = ack;
      // Compact once the dropped part dominates (amortised O(1) per row).
      if (this.offsetsHead > 4096 && this.offsetsHead * 2 > this.offsets.length) {
        this.offsets = this.offsets.slice(this.offsetsHead);
        this.offsetsHead = 0;
      }
    }
    await writeAtomic(join(this.dir, "ack"), String(ack));
  }

  async ack(): Promise<number> {
    const t = await readFile(join(this.dir, "ack"), "utf8").catch(() => "0");
    return Number(t) || 0;
  }

  async writeState(state: SpooledState | SpooledTaskState): Promise<void> {
    await writeAtomic(join(this.dir, "state.json"), JSON.stringify(state) + "\n", true);
  }

  async readState<T = SpooledState>(): Promise<T | undefined> {
    const t = await readFile(join(this.dir, "state.json"), "utf8").catch(() => undefined);
    if (!t) return undefined;
    try {
      return JSON.parse(t) as T;
    } catch {
      return undefined; // torn write of an older format: treat as no state
    }
  }

  /** Backlog not yet acknowledged, in bytes. */
  backlogBytes(): number {
    if (this.rowCount === this.indexBase) return 0;
    return this.size - (this.offsets[this.offsetsHead] ?? this.size);
  }

  close(): void {
    this.closeFile(true);
  }

  /** Final report delivered: the journal is no longer needed. */
  async remove(): Promise<void> {
    // Not synced first: the file is deleted next, and an fsync here blocked the event loop at every job's end.
    this.closeFile(false);
    await rm(this.dir, { recursive: true, force: true });
  }

  private closeFile(sync: boolean): void {
    if (this.closed) return;
    this.closed = true;
    if (sync) {
      try {
        fsyncSync(this.fd);
      } catch {
        // best effort
      }
    }
    closeSync(this.fd);
  }
}

/** Spool directories left by a previous daemon process (crash, kill -9, power loss). */
export async function findOrphans(root: string, livePid = process.pid): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true }).catch(() => [])) {
    if (!e.isDirectory()) continue;
    const dir = join(root, e.name);
    const meta = await readFile(join(dir, "meta.json"), "utf8").then(
      (t) => JSON.parse(t) as SpoolMeta,
      () => undefined,
    );
    if (!meta) {
      await rm(dir, { recursive: true, force: true });
      continue;
    }
    if (meta.daemonPid === livePid && (meta.daemonInstance === undefined || meta.daemonInstance === DAEMON_INSTANCE)) continue;
    out.push(dir);
  }
  return out.sort();
}
