// Ephemeral per-job uids: a uid is handed to at most one running job, and a
// uid that still owns processes (a crashed earlier run) is skipped.
//
// The range belongs to this runner, and a uid comes back to the pool only
// once its job's processes were all killed (free() after a clean sweep): no
// process of the range can appear later without root. So the host's process
// table is read at the first allocation only (it costs two /proc reads per
// host process, 3 ms with 75 processes and growing with the host), and again
// only for a uid found busy then, when nothing else is left.

import { listProcesses } from "./proc-scan.js";

export class UidPoolExhausted extends Error {}

export class UidPool {
  private readonly inUse = new Set<number>();
  /** Uids that owned processes when the table was last read (undefined: not read yet). */
  private busy: Set<number> | undefined;
  private next = 0;

  constructor(readonly start: number, readonly count: number) {
    if (!Number.isInteger(start) || !Number.isInteger(count) || start <= 0 || count <= 0) {
      throw new Error(`host.uid_range must be a positive start and count (got start ${start}, count ${count})`);
    }
  }

  /** Picks a free uid, round robin so a freed uid is not reused at once. */
  async allocate(): Promise<number> {
    if (this.busy === undefined) this.busy = await busyUids();
    let uid = this.pick(this.busy);
    if (uid === undefined && this.busy.size > 0) {
      // Only uids that owned processes earlier are left: look again.
      this.busy = await busyUids();
      uid = this.pick(this.busy);
    }
    if (uid === undefined) {
      throw new UidPoolExhausted(
        `no free uid in host.uid_range ${this.start}..${this.start + this.count - 1} (${this.inUse.size} in use by jobs)`,
      );
    }
    this.inUse.add(uid);
    this.next = (uid - this.start + 1) % this.count;
    return uid;
  }

  private pick(busy: Set<number>): number | undefined {
    for (let i = 0; i < this.count; i++) {
      const uid = this.start + ((this.next + i) % this.count);
      if (!this.inUse.has(uid) && !busy.has(uid)) return uid;
    }
    return undefined;
  }

  /** The uid's job ended and none of its processes is left. */
  free(uid: number): void {
    this.inUse.delete(uid);
  }

  get size(): number {
    return this.inUse.size;
  }
}

async function busyUids(): Promise<Set<number>> {
  // A zombie (an exited process its parent has not reaped yet) runs no code and holds
  // no files: the uid of a job that just ended is free although its zombies linger.
  return new Set((await listProcesses()).filter((p) => p.state !== "Z" && p.state !== "X").map((p) => p.uid));
}
