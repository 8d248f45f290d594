// Turns one job's event stream into UpdateLog / UpdateTask calls.
//
// Rows get absolute indexes in arrival order. Every report interval the
// rows the server has not acknowledged are sent from its ack index (the
// server de-duplicates overlaps, so resending after a lost answer is safe),
// then the task state. The answer to UpdateTask is the only cancel channel.
// Closing appends a "Job <result>" row, sends the remaining rows with
// no_more (at least that row, or the server would not archive), then the final state with result and
// stopped_at, both retried with backoff.
// With a spool, every row is journaled before it can be sent and the state
// at each step boundary and before the final report (fsync'd), so a crash
// or an outage of any length loses nothing (see recovery.ts).

import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Conclusion, JobEvent } from "../engine/events.js";
import type { ReportRetryConfig } from "../config/types.js";
import type { Logger } from "../observability/logger.js";
import { Code, ConnectError, Result, isUnregisteredRunner, type ForgejoClient } from "../protocol/index.js";
import { sanitizeRows } from "./log-rows.js";
import { MemoryRowStore, SpoolRowStore, type RowStore } from "./row-store.js";
import type { SpooledTaskState, TaskSpool } from "./spool.js";
import { toResult } from "./results.js";
import { retryWithBackoff } from "./retry.js";

export const MAX_OUTPUT_KEY_BYTES = 255;
export const MAX_OUTPUT_VALUE_BYTES = 1024 * 1024;
/** Rough cap on the content of one UpdateLog call (UTF-16 length × 3 bounds the UTF-8 size). */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

export interface ReporterOptions {
  client: Pick<ForgejoClient, "updateTask" | "updateLog">;
  taskId: bigint;
  /** Number of steps in the payload (steps never started are reported at the end). */
  stepCount: number;
  reportIntervalMs: number;
  retry: ReportRetryConfig;
  log: Logger;
  /** The server answered CANCELLED or FAILURE while the job runs. */
  onCancelRequested?: (result: "cancelled" | "failure") => void;
  startedAt?: Date;
  /** Rows per UpdateLog call. */
  maxBatchRows?: number;
  /** Per-call timeout of periodic reports. */
  callTimeoutMs?: number;
  onStepStarted?: (index: number, time: Date) => void;
  onStepFinished?: (index: number, durationMs: number) => void;
  onCallError?: (rpc: "UpdateLog" | "UpdateTask", err: unknown) => void;
  /** After each periodic report (e.g. to persist a snapshot). */
  onTick?: () => void;
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
  /** Rows the server has acknowledged (absolute index of the first unsent row). */
  private offset = 0;
  private persisting: Promise<void> = Promise.resolve();
  private readonly steps: StepSlot[] = [];
  private readonly startedAt: Date;
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private closing = false;
  private closed = false;
  private cancelSignalled = false;
  private jobCancelled = false;
  private outputs = new Map<string, string>();
  private final: { result: Conclusion; time: Date } | undefined;
  private readonly sentOutputs = new Set<string>();
  private lastWarnAt = 0;
  /** Bumped on every change worth persisting (rows, acks, step states). */
  changes = 0;

  constructor(opts: ReporterOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.startedAt = opts.startedAt ?? new Date();
    for (let i = 0; i < opts.stepCount; i++) this.steps.push(emptyStep());
    this.store = opts.spool
      ? new SpoolRowStore(opts.spool, {
          writeBatchRows: 1,
          onError: (err) => this.warnThrottled("could not journal the log ack", err),
          onJournalFailed: (err) => {
            this.log.error({ err: describe(err), spool: opts.spool!.dir }, "cannot write the task's journal; the job is stopped");
            opts.onJournalFailed?.(err);
          },
        })
      : new MemoryRowStore();
  }

  /** Absolute index the next row gets. */
  get rowCount(): number {
    return this.store.count;
  }

  get acknowledged(): number {
    return this.offset;
  }

  /** Consumes one engine event (pass as RunJobOptions.emit). */
  readonly handle = (ev: JobEvent): void => {
    if (this.closed) return;
    this.changes++;
    switch (ev.type) {
      case "log":
        if (ev.stage === "step" && ev.stepIndex !== undefined) this.appendRows(ev.line, ev.time, ev.stepIndex);
        else this.appendRows(ev.line, ev.time, undefined);
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
        await this.flushLog(false);
        await this.reportState(undefined);
      } catch (err) {
        this.warnThrottled("periodic report failed; will resend", err);
      } finally {
        this.inflight = undefined;
      }
      try {
        this.opts.onTick?.();
      } catch {
        // persistence problems are reported by the hook itself
      }
    })();
    return this.inflight;
  }

  /**
   * Final upload. Returns true when the server has every row (log archived)
   * and the final state; false when the retries ran out.
   */
  async close(final: FinalReport): Promise<boolean> {
    await this.finish(final);
    return this.deliver();
  }

  /** Stops periodic reports and fixes the final state (no network). */
  async finish(final: FinalReport): Promise<void> {
    if (this.closing) throw new Error("reporter already closing");
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.inflight;
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

  /**
   * Sends what is left after finish(): rows with no_more, then the final
   * state, each retried with backoff. True when everything was acknowledged.
   */
  async deliver(retryConfig: ReportRetryConfig = this.opts.retry): Promise<boolean> {
    const final = this.final;
    if (!final) throw new Error("deliver() before finish()");
    const retry = {
      ...retryConfig,
      isFatal: (err: unknown) => isUnregisteredRunner(err),
      onRetry: (err: unknown, attempt: number, delay: number) =>
        this.log.warn({ err: describe(err), attempt, delayMs: delay }, "final report failed; retrying"),
    };
    let seen = this.offset;
    const progressed = () => {
      const moved = this.offset > seen;
      seen = this.offset;
      return moved;
    };
    let rowsDone = true;
    try {
      await retryWithBackoff(() => this.flushLog(true), { ...retry, progressed });
    } catch (err) {
      rowsDone = false;
      this.log.error({ err: describe(err), unsent: this.rowCount - this.offset }, "could not upload the final log rows");
      // Still try to deliver the result: a job stuck "running" is worse than a short log.
    }
    try {
      await retryWithBackoff(async () => {
        await this.reportState({ result: toResult(final.result), stoppedAt: final.time });
        const missing = [...this.outputs.keys()].filter((k) => !this.sentOutputs.has(k));
        if (missing.length > 0) throw new Error(`outputs not acknowledged yet: ${missing.join(", ")}`);
      }, retry);
      return rowsDone && this.offset === this.rowCount;
    } catch (err) {
      this.log.error({ err: describe(err) }, "could not report the final task state");
      return false;
    }
  }

  get isFinished(): boolean {
    return this.final !== undefined;
  }

  private step(index: number): StepSlot {
    while (this.steps.length <= index) this.steps.push(emptyStep());
    return this.steps[index]!;
  }

  private appendRows(line: string, time: Date, stepIndex: number | undefined): void {
    this.changes++;
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

  private async flushLog(noMore: boolean): Promise<void> {
    const max = this.opts.maxBatchRows ?? 2000;
    for (;;) {
      if (this.offset >= this.rowCount && !noMore) return;
      const batch = this.store.read(this.offset, max, MAX_BATCH_BYTES);
      const last = this.offset + batch.length === this.rowCount;
      if (batch.length === 0) return; // nothing left: the no_more batch was acknowledged
      let ack: number;
      try {
        const res = await this.call("UpdateLog", () => this.opts.client.updateLog(
          {
            taskId: this.opts.taskId,
            index: BigInt(this.offset),
            rows: batch.map((r) => ({ time: timestampFromDate(r.time), content: r.content })),
            noMore: noMore && last,
          },
          { timeoutMs: this.opts.callTimeoutMs },
        ));
        ack = Number(res.ackIndex);
      } catch (err) {
        // A lost answer to the no_more call: the server archived everything we sent.
        if (noMore && last && err instanceof ConnectError && err.code === Code.AlreadyExists) {
          this.offset = this.rowCount;
          this.store.acknowledge(this.offset);
          return;
        }
        throw err;
      }
      if (ack < this.offset) {
        throw new Error(`submitted logs are lost: server holds ${ack} rows, ${this.offset} were acknowledged before`);
      }
      const taken = Math.min(ack - this.offset, this.rowCount - this.offset);
      this.offset += taken;
      if (taken > 0) {
        this.store.acknowledge(this.offset);
        this.changes++;
      }
      if (taken < batch.length) {
        // The server did not take the whole batch (it keeps what it has); try again later.
        throw new Error(`server acknowledged ${ack} of ${this.rowCount} rows`);
      }
    }
  }

  private async reportState(final: { result: Result; stoppedAt: Date } | undefined): Promise<void> {
    const outputs: Record<string, string> = {};
    for (const [k, v] of this.outputs) if (!this.sentOutputs.has(k)) outputs[k] = v;
    const res = await this.call("UpdateTask", () => this.opts.client.updateTask(
      {
        state: {
          id: this.opts.taskId,
          result: final?.result ?? Result.UNSPECIFIED,
          startedAt: timestampFromDate(this.startedAt),
          stoppedAt: final ? timestampFromDate(final.stoppedAt) : undefined,
          steps: this.steps.map((s, id) => ({
            id: BigInt(id),
            result: s.result,
            startedAt: s.startedAt ? timestampFromDate(s.startedAt) : undefined,
            stoppedAt: s.stoppedAt ? timestampFromDate(s.stoppedAt) : undefined,
            logIndex: BigInt(s.logIndex),
            logLength: BigInt(s.logLength),
          })),
        },
        outputs,
      },
      { timeoutMs: final ? undefined : this.opts.callTimeoutMs },
    ));
    for (const k of res.sentOutputs) this.sentOutputs.add(k);
    const remote = res.state?.result ?? Result.UNSPECIFIED;
    if (!final && !this.closing && !this.cancelSignalled && (remote === Result.CANCELLED || remote === Result.FAILURE)) {
      this.cancelSignalled = true;
      this.log.info({ result: Result[remote] }, "the server stopped the task; cancelling the job");
      this.opts.onCancelRequested?.(remote === Result.CANCELLED ? "cancelled" : "failure");
    }
  }

  private async call<T>(rpc: "UpdateLog" | "UpdateTask", fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.opts.onCallError?.(rpc, err);
      throw err;
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

export function describe(err: unknown): string {
  if (err instanceof ConnectError) return `[${Code[err.code] ?? err.code}] ${err.rawMessage}`;
  return err instanceof Error ? err.message : String(err);
}
