// Turns one job's event stream into log rows and task states, and hands them
// to the task's delivery (delivery.ts) every report interval and at the end.
//
// Rows get absolute indexes in arrival order. The answer to UpdateTask is the
// only cancel channel. Closing appends a "Job <result>" row (so that no_more
// carries at least one row, or the server would not archive) and fixes the
// final state; the delivery then sends the rest with backoff.
// With a spool, every row is journaled before it can be sent and the state
// at each step boundary and before the final report (fsync'd), so a crash
// or an outage of any length loses nothing (see recovery.ts).

import type { Conclusion, JobEvent } from "../engine/events.js";
import type { ReportRetryConfig } from "../config/types.js";
import type { Logger } from "../observability/logger.js";
import { Result, type ForgejoClient } from "../protocol/index.js";
import { DeliveryLink, TaskDelivery, describeError, type DeliveryOutcome, type StateReport } from "./delivery.js";
import { sanitizeRows } from "./log-rows.js";
import { MemoryRowStore, SpoolRowStore, type RowStore } from "./row-store.js";
import type { SpooledTaskState, TaskSpool } from "./spool.js";
import { toResult } from "./results.js";

export const MAX_OUTPUT_KEY_BYTES = 255;
export const MAX_OUTPUT_VALUE_BYTES = 1024 * 1024;
/** Rows per UpdateLog call unless configured (the delivery's default too). */
const DEFAULT_BATCH_ROWS = 2000;

export interface ReporterOptions {
  /** The connection's link (shared by its tasks); or a bare client. */
  link?: DeliveryLink;
  client?: Pick<ForgejoClient, "updateTask" | "updateLog">;
  taskId: bigint;
  /** Number of steps in the payload (steps never started are reported at the end). */
  stepCount: number;
  reportIntervalMs: number;
  retry: ReportRetryConfig;
  log: Logger;
  /** The server answered CANCELLED or FAILURE while the job runs, or refuses the task's reports. */
  onCancelRequested?: (result: "cancelled" | "failure" | "gone") => void;
  startedAt?: Date;
  /** Rows per UpdateLog call. */
  maxBatchRows?: number;
  /** Per-call timeout of periodic reports. */
  callTimeoutMs?: number;
  onStepStarted?: (index: number, time: Date) => void;
  onStepFinished?: (index: number, durationMs: number) => void;
  onCallError?: (rpc: "UpdateLog" | "UpdateTask", err: unknown) => void;
  /**
   * Journal rows and state changes here before they count as produced: rows
   * the server has not acknowledged are read back from it (memory holds a
   * fixed window), and the spool outlives a crash. Without it, rows wait in memory.
   */
  spool?: TaskSpool;
  /**
   * The spool cannot be written (ENOSPC, EIO…), called once. Rows journaled
   * before are still delivered; later rows are kept in memory.
   */
  onJournalFailed?: (err: unknown) => void;
}

interface StepSlot {
  result: Result;
  startedAt?: Date;
  stoppedAt?: Date;
  logIndex: number;
  logLength: number;
  hasRows: boolean;
  running: boolean;
}

export interface FinalReport {
  result: Conclusion;
  outputs?: Record<string, string>;
  time?: Date;
}

export class TaskReporter {
  private readonly opts: ReporterOptions;
  private readonly log: Logger;
  private readonly store: RowStore;
  private readonly delivery: TaskDelivery;
  private persisting: Promise<void> = Promise.resolve();
  private readonly steps: StepSlot[] = [];
  private readonly startedAt: Date;
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  /** An early UpdateLog for a large backlog (see pushRows). */
  private pushing: Promise<void> | undefined;
  private pushHeld = false;
  private closing = false;
  private closed = false;
  private cancelSignalled = false;
  private jobCancelled = false;
  private outputs = new Map<string, string>();
  private final: { result: Conclusion; time: Date } | undefined;
  private lastWarnAt = 0;
  /** Unsent rows that make a full batch: pushed before the next tick. */
  private readonly pushThreshold: number;

  constructor(opts: ReporterOptions) {
    this.opts = opts;
    this.pushThreshold = opts.maxBatchRows ?? DEFAULT_BATCH_ROWS;
    this.log = opts.log;
    this.startedAt = opts.startedAt ?? new Date();
    for (let i = 0; i < opts.stepCount; i++) this.steps.push(emptyStep());
    this.store = opts.spool
      ? new SpoolRowStore(opts.spool, {
          writeBatchRows: 1000,
          onError: (err) => this.warnThrottled("could not journal the log ack", err),
          onJournalFailed: (err) => {
            this.log.error({ err: describe(err), spool: opts.spool!.dir }, "cannot write the task's journal; the job is stopped");
            opts.onJournalFailed?.(err);
          },
        })
      : new MemoryRowStore();
    const link = opts.link ?? new DeliveryLink(opts.client ?? missingClient());
    this.delivery = new TaskDelivery({
      link,
      taskId: opts.taskId,
      rows: this.store,
      log: this.log,
      ...(opts.maxBatchRows ? { maxBatchRows: opts.maxBatchRows } : {}),
      ...(opts.callTimeoutMs ? { callTimeoutMs: opts.callTimeoutMs } : {}),
      ...(opts.onCallError ? { onCallError: opts.onCallError } : {}),
    });
  }

  /** Absolute index the next row gets. */
  get rowCount(): number {
    return this.store.count;
  }

  /** Consumes one engine event (pass as RunJobOptions.emit). */
  readonly handle = (ev: JobEvent): void => {
    if (this.closed) return;
    switch (ev.type) {
      case "log":
        if (ev.stage === "step" && ev.stepIndex !== undefined) this.appendRows(ev.line, ev.time, ev.stepIndex);
        else this.appendRows(ev.line, ev.time, undefined);
        if (this.store.count - this.delivery.acked >= this.pushThreshold) this.pushRows();
        break;
      case "step-started": {
        const s = this.step(ev.index);
        s.running = true;
        s.startedAt ??= ev.time;
        if (!s.hasRows) s.logIndex = this.rowCount;
        this.persist();
        this.opts.onStepStarted?.(ev.index, ev.time);
        break;
      }
      case "step-finished": {
        const s = this.step(ev.index);
        s.running = false;
        s.startedAt ??= ev.time;
        if (!s.hasRows) s.logIndex = this.rowCount;
        // Steps the engine skips because the job was cancelled were "still to run": Forgejo shows them cancelled.
        s.result = this.jobCancelled && ev.conclusion === "skipped" ? Result.CANCELLED : toResult(ev.conclusion);
        s.stoppedAt = ev.time;
        this.persist();
        this.opts.onStepFinished?.(ev.index, ev.time.getTime() - s.startedAt.getTime());
        break;
      }
      case "job-finished":
      case "annotation":
      case "summary":
        break;
    }
  };

  /**
   * A row from the runner itself (errors, cancel reasons). It belongs to the
   * step that is running, if any, else it is outside the step window.
   */
  addRow(content: string, time: Date = new Date()): void {
    if (this.closed) return;
    const running = this.steps.findIndex((s) => s.running);
    this.appendRows(content, time, running >= 0 ? running : undefined);
  }

  /** The job is being cancelled: steps skipped from now on are reported as cancelled. */
  markCancelled(): void {
    this.jobCancelled = true;
  }

  start(): void {
    if (this.timer || this.closing) return;
    this.timer = setInterval(() => this.tick(), Math.max(10, this.opts.reportIntervalMs));
  }

  /** One periodic report; skipped while the previous one is still out. */
  tick(): Promise<void> {
    if (this.closing || this.inflight) return this.inflight ?? Promise.resolve();
    this.inflight = (async () => {
      try {
        await this.pushing;
        const r = await this.delivery.report(this.stateReport(), this.opts.retry);
        if ("failed" in r) this.warnThrottled("periodic report failed; will resend", r.failed);
        else if ("stop" in r) this.stopReporting(r.stop);
        else {
          this.pushHeld = false;
          this.checkRemote(r.remote);
        }
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }

  /**
   * A busy step's rows go out as soon as a full batch is waiting rather than
   * at the next tick: the server's view stays live and the rows are sent
   * while still in the store's memory window, not read back from the journal.
   * Up to the rows present now; errors are left to the next periodic report.
   */
  private pushRows(): void {
    if (this.pushing || this.inflight || this.closing || !this.timer || this.pushHeld) return;
    this.pushing = (async () => {
      try {
        // A due tick goes first (it sends the rows too): pushes never hold back the cancel channel.
        while (!this.inflight && !this.closing && this.store.count - this.delivery.acked >= this.pushThreshold) {
          await this.delivery.sendRows(false, this.store.count);
        }
      } catch {
        // The periodic report resends, with its backoff, and judges the
        // error; no more pushes until one succeeds (a server that refuses
        // at once would otherwise get a call per line).
        this.pushHeld = true;
      } finally {
        this.pushing = undefined;
      }
    })();
  }

  private stopReporting(why: "gone" | "revoked"): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (why === "gone" && !this.cancelSignalled) {
      this.cancelSignalled = true;
      this.opts.onCancelRequested?.("gone");
    }
  }

  private checkRemote(remote: Result): void {
    if (this.closing || this.cancelSignalled || (remote !== Result.CANCELLED && remote !== Result.FAILURE)) return;
    this.cancelSignalled = true;
    this.log.info({ result: Result[remote] }, "the server stopped the task; cancelling the job");
    this.opts.onCancelRequested?.(remote === Result.CANCELLED ? "cancelled" : "failure");
  }

  /** Final upload: what the server took (see DeliveryOutcome). */
  async close(final: FinalReport): Promise<DeliveryOutcome> {
    await this.finish(final);
    const outcome = await this.delivery.deliverFinal(this.stateReport(), this.opts.retry);
    // The journal holds the last ack before the caller removes or keeps the spool.
    await this.flushJournal();
    return outcome;
  }

  /** Stops periodic reports and fixes the final state (no network). */
  async finish(final: FinalReport): Promise<void> {
    if (this.closing) throw new Error("reporter already closing");
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.inflight;
    await this.pushing;
    const time = final.time ?? new Date();

    for (const s of this.steps) {
      s.running = false;
      if (s.result === Result.UNSPECIFIED) {
        s.result = final.result === "skipped" ? Result.SKIPPED : Result.CANCELLED;
        s.stoppedAt ??= time;
        if (!s.hasRows) s.logIndex = this.rowCount;
      }
    }
    if (final.result === "success" && final.outputs) this.outputs = this.filterOutputs(final.outputs);
    // The last row of every log, outside the step window ("Complete job"). It
    // also guarantees that no_more carries a row: without one the server
    // would not archive the log.
    this.appendRows(closingLine(final.result), time, undefined);
    this.closed = true;
    this.final = { result: final.result, time };
    // The final state is on disk before anything of it goes out.
    this.persist();
    await this.persisting;
  }

  /** Unacknowledged rows in bytes (the spool backlog). */
  backlogBytes(): number {
    return this.store.backlogBytes();
  }

  /** Journals the current state (step boundaries, final). Writes are serialised; errors are logged. */
  private persist(): void {
    const spool = this.opts.spool;
    if (!spool) return;
    const snapshot = this.snapshot();
    this.persisting = this.persisting
      .then(async () => {
        if (this.store instanceof SpoolRowStore) await this.store.syncAsync();
        await spool.writeState(snapshot);
      })
      .catch((err: unknown) => this.warnThrottled("could not journal the task state", err));
  }

  /** The state as the spool keeps it (what a restarted daemon needs to report the task). */
  snapshot(): SpooledTaskState {
    const ms = (d: Date | undefined) => (d ? d.getTime() : undefined);
    const state: SpooledTaskState = {
      startedAt: this.startedAt.getTime(),
      steps: this.steps.map((s) => ({
        result: s.result,
        ...(s.startedAt ? { startedAt: ms(s.startedAt)! } : {}),
        ...(s.stoppedAt ? { stoppedAt: ms(s.stoppedAt)! } : {}),
        logIndex: s.logIndex,
        logLength: s.logLength,
      })),
    };
    if (this.final) {
      state.final = {
        result: toResult(this.final.result),
        stoppedAt: this.final.time.getTime(),
        outputs: Object.fromEntries(this.outputs),
      };
    }
    return state;
  }

  /** Resolves when the journal holds everything reported so far (acks included). */
  async flushJournal(): Promise<void> {
    await this.persisting;
    if (this.store instanceof SpoolRowStore) await this.store.flushAck();
  }

  /** The state as UpdateTask reports it. */
  private stateReport(): StateReport {
    const snap = this.snapshot();
    return {
      startedAt: snap.startedAt,
      steps: snap.steps,
      result: (snap.final?.result ?? Result.UNSPECIFIED) as Result,
      ...(snap.final ? { stoppedAt: snap.final.stoppedAt } : {}),
      outputs: snap.final?.outputs ?? {},
    };
  }

  get isFinished(): boolean {
    return this.final !== undefined;
  }

  private step(index: number): StepSlot {
    while (this.steps.length <= index) this.steps.push(emptyStep());
    return this.steps[index]!;
  }

  private appendRows(line: string, time: Date, stepIndex: number | undefined): void {
    for (const content of sanitizeRows(line)) {
      const index = this.rowCount;
      this.store.append([{ time, content }]);
      if (stepIndex === undefined) continue;
      const s = this.step(stepIndex);
      if (!s.hasRows) {
        s.hasRows = true;
        s.logIndex = index;
        s.startedAt ??= time;
      }
      s.logLength = index + 1 - s.logIndex;
    }
  }

  private filterOutputs(outputs: Record<string, string>): Map<string, string> {
    const kept = new Map<string, string>();
    for (const [k, v] of Object.entries(outputs)) {
      if (Buffer.byteLength(k, "utf8") > MAX_OUTPUT_KEY_BYTES) {
        this.appendRows(`Ignoring output "${k.slice(0, 64)}…": its name is longer than 255 bytes`, new Date(), undefined);
      } else if (Buffer.byteLength(v, "utf8") > MAX_OUTPUT_VALUE_BYTES) {
        this.appendRows(`Ignoring output "${k}": its value is larger than 1 MiB`, new Date(), undefined);
      } else {
        kept.set(k, v);
      }
    }
    return kept;
  }

  private warnThrottled(msg: string, err: unknown): void {
    const now = Date.now();
    if (now - this.lastWarnAt < 10_000) return;
    this.lastWarnAt = now;
    this.log.warn({ err: describe(err) }, msg);
  }
}

function emptyStep(): StepSlot {
  return { result: Result.UNSPECIFIED, logIndex: 0, logLength: 0, hasRows: false, running: false };
}

function closingLine(result: Conclusion): string {
  switch (result) {
    case "success": return "Job succeeded";
    case "failure": return "Job failed";
    case "cancelled": return "Job cancelled";
    case "skipped": return "Job skipped";
  }
}

export const describe = describeError;

function missingClient(): never {
  throw new Error("TaskReporter needs a link or a client");
}
