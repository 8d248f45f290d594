// Where a task's log rows wait until the server has acknowledged them.
//
// MemoryRowStore keeps them in memory (tests, tools without a state dir).
// SpoolRowStore journals them to the task's spool first and keeps only a
// fixed window of the newest rows in memory: rows the server has not taken
// yet (an outage of any length) are read back from disk.

import type { SpoolRow, TaskSpool } from "./spool.js";

export type StoredRow = SpoolRow;

export interface RowStore {
  /** Rows appended so far (the absolute index of the next row). */
  readonly count: number;
  append(rows: StoredRow[]): void;
  /** Up to `max` rows and about `maxBytes` of content from absolute index `from` (at least one row when any). */
  read(from: number, max: number, maxBytes: number): StoredRow[];
  /** The server holds every row below `n`. */
  acknowledge(n: number): void;
  /** Bytes of rows not acknowledged yet (approximate for memory). */
  backlogBytes(): number;
  /** Everything appended is on stable storage (no-op in memory). */
  sync(): void;
}

/** UTF-16 length × 3 bounds the UTF-8 size. */
const approxBytes = (r: StoredRow): number => r.content.length * 3;

export class MemoryRowStore implements RowStore {
  private rows: StoredRow[] = [];
  private base = 0;

  get count(): number {
    return this.base + this.rows.length;
  }

  append(rows: StoredRow[]): void {
    for (const r of rows) this.rows.push(r);
  }

  read(from: number, max: number, maxBytes: number): StoredRow[] {
    return takeBatch(this.rows, from - this.base, max, maxBytes);
  }

  acknowledge(n: number): void {
    const drop = Math.min(Math.max(0, n - this.base), this.rows.length);
    if (drop === 0) return;
    this.rows.splice(0, drop);
    this.base += drop;
  }

  backlogBytes(): number {
    let b = 0;
    for (const r of this.rows) b += Buffer.byteLength(r.content, "utf8");
    return b;
  }

  sync(): void {}
}

export interface SpoolRowStoreOptions {
  /** Newest rows kept in memory (default 20,000). */
  windowRows?: number;
  /** ... and at most this many bytes of them (default 8 MiB, counting 3 bytes per UTF-16 unit). */
  windowBytes?: number;
  /**
   * Rows buffered before they are written to the journal (default 200).
   * Fewer are written at the end of the event-loop turn that appended them,
   * so a row is journaled before the daemon reads anything more.
   */
  writeBatchRows?: number;
  onError?: (err: unknown) => void;
  /**
   * Once: the journal cannot be written (disk full, I/O error). Rows
   * journaled so far are still read from it; later rows stay in memory.
   */
  onJournalFailed?: (err: unknown) => void;
}

export class SpoolRowStore implements RowStore {
  /** The window is window[head…]; dropped rows are cut in bulk (shift() copies a large array each time). */
  private window: (StoredRow | undefined)[] = [];
  private head = 0;
  /** Absolute index of window[head]. */
  private windowStart = 0;
  private windowBytes = 0;
  /** Appended but not yet written to the journal (always the newest rows). */
  private unwritten: StoredRow[] = [];
  private acked = 0;
  private ackWrite: Promise<void> = Promise.resolve();
  private readonly maxRows: number;
  private readonly maxBytes: number;
  private readonly writeBatch: number;
  private journalError: unknown;
  private writeScheduled = false;
  private ackQueued = false;

  constructor(private readonly spool: TaskSpool, private readonly opts: SpoolRowStoreOptions = {}) {
    // A busy step produces rows faster than one UpdateLog round trip: the
    // window holds a few batches, so they are sent from memory.
    this.maxRows = opts.windowRows ?? 20_000;
    this.maxBytes = opts.windowBytes ?? 8 * 1024 * 1024;
    this.writeBatch = opts.writeBatchRows ?? 200;
    this.windowStart = spool.rows;
  }

  get count(): number {
    return this.spool.rows + this.unwritten.length;
  }

  append(rows: StoredRow[]): void {
    for (const r of rows) {
      this.unwritten.push(r);
      this.window.push(r);
      this.windowBytes += approxBytes(r);
    }
    if (this.unwritten.length >= this.writeBatch) this.write();
    else if (this.unwritten.length > 0 && !this.writeScheduled) {
      this.writeScheduled = true;
      setImmediate(() => {
        this.writeScheduled = false;
        this.write();
      });
    }
    // Only journaled rows leave memory: without a journal they are the only
    // copy (so the window exceeds its bounds by at most one write batch).
    while (
      this.window.length - this.head > 1 && this.windowStart < this.spool.rows &&
      (this.window.length - this.head > this.maxRows || this.windowBytes > this.maxBytes)
    ) {
      this.windowBytes -= approxBytes(this.window[this.head]!);
      this.window[this.head++] = undefined;
      this.windowStart++;
    }
    if (this.head > 1024 && this.head * 2 > this.window.length) {
      this.window = this.window.slice(this.head);
      this.head = 0;
    }
  }

  /** Rows held in memory (the window). */
  get heldRows(): number {
    return this.window.length - this.head;
  }

  /** The error that stopped journaling, if any. */
  get failed(): unknown {
    return this.journalError;
  }

  /** Journals buffered rows (no fsync). Rows are always journaled before anyone reads them. */
  write(): void {
    if (this.unwritten.length === 0 || this.journalError !== undefined) return;
    try {
      this.spool.append(this.unwritten);
      this.unwritten = [];
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    if (this.journalError !== undefined) return;
    this.journalError = err ?? new Error("journal write failed");
    this.opts.onJournalFailed?.(err);
  }

  read(from: number, max: number, maxBytes: number): StoredRow[] {
    this.write();
    if (from >= this.windowStart) return takeBatch(this.window as StoredRow[], this.head + from - this.windowStart, max, maxBytes);
    // The window moved past these rows: read them back from the journal
    // (up to the window; the next batch continues from memory).
    return this.spool.read(from, Math.min(max, this.windowStart - from), maxBytes);
  }

  acknowledge(n: number): void {
    if (n <= this.acked) return;
    this.acked = n;
    // One write in flight and at most one queued, which takes the newest ack.
    if (this.ackQueued) return;
    this.ackQueued = true;
    this.ackWrite = this.ackWrite
      .then(() => {
        this.ackQueued = false;
        return this.spool.setAck(this.acked);
      })
      .catch((err: unknown) => this.opts.onError?.(err));
  }

  /** Resolves when the stored ack is on disk. */
  flushAck(): Promise<void> {
    return this.ackWrite;
  }

  backlogBytes(): number {
    return this.spool.backlogBytes() + this.unwritten.reduce((a, r) => a + Buffer.byteLength(r.content, "utf8"), 0);
  }

  sync(): void {
    this.write();
    try {
      this.spool.sync();
    } catch (err) {
      this.fail(err);
    }
  }

  async syncAsync(): Promise<void> {
    this.write();
    await this.spool.syncAsync().catch((err: unknown) => this.fail(err));
  }
}

function takeBatch(rows: StoredRow[], start: number, max: number, maxBytes: number): StoredRow[] {
  if (start < 0 || start >= rows.length) return [];
  let bytes = 0;
  let n = 0;
  while (start + n < rows.length && n < max) {
    bytes += approxBytes(rows[start + n]!);
    if (n > 0 && bytes > maxBytes) break;
    n++;
  }
  return rows.slice(start, start + n);
}
