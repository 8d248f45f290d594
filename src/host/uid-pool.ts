// Ephemeral per-job uids: a uid is handed to at most one running job, and a
// uid that still owns processes (a crashed earlier run) is skipped.

import { listProcesses } from "./proc-scan.js";

export class UidPoolExhausted extends Error {}

export class UidPool {
  private readonly inUse = new Set<number>();
  private next = 0;

  constructor(readonly start: number, readonly count: number) {
    if (!Number.isInteger(start) || !Number.isInteger(count) || start <= 0 || count <= 0) {
      throw new Error(`host.uid_range must be a positive start and count (got start ${start}, count ${count})`);
    }
  }

  /** Picks a free uid, round robin so a freed uid is not reused at once. */
  async allocate(): Promise<number> {
    // A zombie (an exited process its parent has not reaped yet) runs no code and holds
    // no files: the uid of a job that just ended is free although its zombies linger.
    const busy = new Set((await listProcesses()).filter((p) => p.state !== "Z" && p.state !== "X").map((p) => p.uid));
    for (let i = 0; i < this.count; i++) {
      const uid = this.start + ((this.next + i) % this.count);
      if (this.inUse.has(uid) || busy.has(uid)) continue;
      this.inUse.add(uid);
      this.next = (uid - this.start + 1) % this.count;
      return uid;
    }
    throw new UidPoolExhausted(
      `no free uid in host.uid_range ${this.start}..${this.start + this.count - 1} (${this.inUse.size} in use by jobs)`,
    );
  }

  free(uid: number): void {
    this.inUse.delete(uid);
  }

  get size(): number {
    return this.inUse.size;
  }
}
