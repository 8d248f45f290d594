// Getting one task's log rows and state to the server: the single path used
// by live reporting, by redelivery after an outage and by crash recovery.
//
// Rows go out from the server's ack index (it de-duplicates overlaps, so a
// resend after a lost answer is safe); the state follows. A failed call is
// handled by its Connect code alone (classifyError): message texts differ
// between servers and versions and are never read.
//
//   transient  unavailable, deadline_exceeded, resource_exhausted, aborted,
//              canceled, and our own checks (short ack): retried with backoff.
//   revoked    unauthenticated, permission_denied: the runner's registration
//              is invalid. Every delivery of that connection stops; spools stay.
//   refused    not_found, failed_precondition, invalid_argument, out_of_range:
//              the task is gone or refused; it is given up (spool dropped).
//   ambiguous  internal, unknown, data_loss, unimplemented: Forgejo answers
//              `internal` for a task that is not (or no longer) this runner's
//              and for database trouble; servers before 2025-03 and Gitea 1.22
//              answer `unknown` for everything, unknown runners included. Such
//              errors are retried like an outage. When the retries run out on
//              one, the server is asked a question that involves no task
//              (Declare with the runner's labels): if it answers, the runner is
//              accepted and the server works, so the task is given up; if not,
//              nothing is decided and the spool stays for a later attempt.

import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { ReportRetryConfig } from "../config/types.js";
import type { Logger } from "../observability/logger.js";
import { Code, ConnectError, Result, type ForgejoClient } from "../protocol/index.js";
import { retryWithBackoff } from "./retry.js";
import type { SpoolRow, SpooledStep } from "./spool.js";

export type DeliveryClient = Pick<ForgejoClient, "updateTask" | "updateLog">;

export type ErrorClass = "transient" | "revoked" | "refused" | "ambiguous";

export function classifyError(err: unknown): ErrorClass {
  if (!(err instanceof ConnectError)) return "transient";
  switch (err.code) {
    case Code.Unauthenticated:
    case Code.PermissionDenied:
      return "revoked";
    case Code.NotFound:
    case Code.FailedPrecondition:
    case Code.InvalidArgument:
    case Code.OutOfRange:
    case Code.AlreadyExists:
      return "refused";
    case Code.Internal:
    case Code.Unknown:
    case Code.DataLoss:
    case Code.Unimplemented:
      return "ambiguous";
    default:
      return "transient";
  }
}

export function describeError(err: unknown): string {
  if (err instanceof ConnectError) return `[${Code[err.code] ?? err.code}] ${err.rawMessage}`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * One connection's way to the server, shared by every delivery of its tasks:
 * once the server refuses the runner's credentials, none of them calls again.
 */
export class DeliveryLink {
  private revokedBy: ConnectError | undefined;

  constructor(
    readonly client: DeliveryClient,
    private readonly opts: { name?: string; checkRunner?: () => Promise<unknown> } = {},
  ) {}

  get revoked(): ConnectError | undefined {
    return this.revokedBy;
  }

  revoke(err: ConnectError, log: Logger): void {
    if (this.revokedBy) return;
    this.revokedBy = err;
    log.error(
      { connection: this.opts.name, err: describeError(err) },
      "the server refuses this runner's credentials (deleted or re-registered?): reports of this connection stop; their spools are kept for the next start",
    );
  }

  /** True when the server answers a call that involves no task. */
  async runnerAccepted(): Promise<boolean> {
    if (!this.opts.checkRunner) return false;
    try {
      await this.opts.checkRunner();
      return true;
    } catch {
      return false;
    }
  }
}

export type DeliveryOutcome =
  /** The server has every row and the final state. */
  | "delivered"
  /** The server had already finished the task (cancelled, zombie-stopped): nothing more to say. */
  | "already-done"
  /** The server refuses the task (gone, not this runner's): given up. */
  | "gone"
  /** The runner's registration is invalid: nothing was sent; keep the spool. */
  | "revoked"
  /** The server could not be reached in time: keep the spool and try later. */
  | "undelivered";

/** Where the rows wait: absolute indexes, rows below the ack may no longer be held. */
export interface RowSource {
  readonly count: number;
  /** Up to `max` rows (and about `maxBytes`) from `from`; empty when they are not held any more. */
  read(from: number, max: number, maxBytes: number): SpoolRow[];
  acknowledge(n: number): void | Promise<void>;
}

export interface StateReport {
  /** Epoch ms. */
  startedAt: number;
  steps: SpooledStep[];
  /** UNSPECIFIED while the job runs. */
  result: Result;
  stoppedAt?: number;
  outputs: Record<string, string>;
}

export interface TaskDeliveryOptions {
  link: DeliveryLink;
  taskId: bigint;
  rows: RowSource;
  /** Rows the server is known to hold (a spool's stored ack). */
  acked?: number;
  log: Logger;
  maxBatchRows?: number;
  /** Per-call timeout; the client's default when unset. */
  callTimeoutMs?: number;
  onCallError?: (rpc: "UpdateLog" | "UpdateTask", err: unknown) => void;
}

/** Rough cap on the content of one UpdateLog call (UTF-16 length × 3 bounds the UTF-8 size). */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

export class TaskDelivery {
  private readonly opts: TaskDeliveryOptions;
  private readonly log: Logger;
  private ackIndex: number;
  /** The highest ack ever seen: rows below it may be gone from the source. */
  private released: number;
  private archived = false;
  private readonly sentOutputs = new Set<string>();
  /** Periodic reports failed in a row with an ambiguous error. */
  private ambiguousTicks = 0;

  constructor(opts: TaskDeliveryOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.ackIndex = Math.min(opts.acked ?? 0, opts.rows.count);
    this.released = this.ackIndex;
  }

  /** Rows the server has acknowledged. */
  get acked(): number {
    return this.ackIndex;
  }

  get link(): DeliveryLink {
    return this.opts.link;
  }

  /**
   * One periodic report while the job runs: unacknowledged rows, then the
   * state. Returns the server's view of the task's result, or what stops it.
   */
  async report(state: StateReport, retry: ReportRetryConfig): Promise<{ remote: Result } | { stop: "gone" | "revoked" } | { failed: unknown }> {
    if (this.link.revoked) return { stop: "revoked" };
    try {
      await this.sendRows(false);
      const remote = await this.sendState(state);
      this.ambiguousTicks = 0;
      return { remote };
    } catch (err) {
      const cls = classifyError(err);
      if (cls === "revoked" || cls === "refused") return { stop: this.verdict(err, cls) };
      if (cls === "ambiguous" && ++this.ambiguousTicks >= Math.max(1, retry.max_retries)) {
        this.ambiguousTicks = 0;
        if (await this.link.runnerAccepted()) return { stop: this.verdict(err, "refused") };
      }
      return { failed: err };
    }
  }

  /**
   * The final delivery: every row with `no_more` on the last batch, then the
   * final state, each retried with backoff (a call that moved the ack
   * restarts the count). The state is sent even when the rows could not be:
   * a job stuck "running" is worse than a short log.
   */
  async deliverFinal(state: StateReport, retry: ReportRetryConfig, signal?: AbortSignal): Promise<DeliveryOutcome> {
    if (this.link.revoked) return "revoked";
    let seen = this.ackIndex;
    const options = {
      ...retry,
      ...(signal ? { signal } : {}),
      isFatal: (err: unknown) => classifyError(err) === "revoked" || classifyError(err) === "refused",
      onRetry: (err: unknown, attempt: number, delayMs: number) =>
        this.log.warn({ err: describeError(err), attempt, delayMs }, "delivering the task's report failed; retrying"),
    };
    const server = { done: false };
    let rowsDone = true;
    try {
      await retryWithBackoff(() => this.sendRows(true), {
        ...options,
        progressed: () => {
          const moved = this.ackIndex > seen;
          seen = this.ackIndex;
          return moved;
        },
      });
    } catch (err) {
      const stop = await this.settle(err, signal);
      if (stop) return stop;
      rowsDone = false;
      this.log.error({ err: describeError(err), unsent: this.opts.rows.count - this.ackIndex }, "could not upload the task's last log rows");
    }
    try {
      await retryWithBackoff(async () => {
        const remote = await this.sendState(state);
        if (remote !== Result.UNSPECIFIED && remote !== state.result) {
          server.done = true;
          return;
        }
        const missing = Object.keys(state.outputs).filter((k) => !this.sentOutputs.has(k));
        if (missing.length > 0) throw new Error(`outputs not acknowledged yet: ${missing.join(", ")}`);
      }, options);
    } catch (err) {
      const stop = await this.settle(err, signal);
      if (stop) return stop;
      this.log.error({ err: describeError(err) }, "could not report the task's final state");
      return "undelivered";
    }
    if (server.done) return "already-done";
    return rowsDone && (this.archived || this.ackIndex >= this.opts.rows.count) ? "delivered" : "undelivered";
  }

  /** A final delivery's retries ended on `err`: does it end the task's delivery? */
  private async settle(err: unknown, signal: AbortSignal | undefined): Promise<"gone" | "revoked" | undefined> {
    const cls = classifyError(err);
    if (cls === "revoked" || cls === "refused") return this.verdict(err, cls);
    // Stopped early (shutdown): the retries did not run out, nothing is decided.
    if (signal?.aborted) return undefined;
    if (cls === "ambiguous" && (await this.link.runnerAccepted())) return this.verdict(err, "refused");
    return undefined;
  }

  private verdict(err: unknown, cls: "revoked" | "refused"): "gone" | "revoked" {
    if (cls === "revoked") {
      this.link.revoke(ConnectError.from(err), this.log);
      return "revoked";
    }
    this.log.warn(
      { taskId: String(this.opts.taskId), err: describeError(err) },
      "the server does not take this task's reports (gone, or not this runner's): giving it up",
    );
    return "gone";
  }

  /**
   * Sends the rows from the server's ack; with `noMore`, the last batch
   * archives the log (`upTo` stops early, for a partial push while the job
   * runs). Throws when a call fails or the server took less than it was
   * sent (the caller retries).
   */
  async sendRows(noMore: boolean, upTo = Infinity): Promise<void> {
    const { rows, link } = this.opts;
    const max = this.opts.maxBatchRows ?? 2000;
    while (!this.archived && this.ackIndex < Math.min(rows.count, upTo)) {
      if (link.revoked) throw link.revoked;
      const from = this.ackIndex;
      // Rows the server lost after acknowledging them may be gone here too: empty rows keep the indexes aligned.
      let batch = from < this.released ? rows.read(from, Math.min(max, this.released - from), MAX_BATCH_BYTES) : [];
      if (batch.length === 0 && from < this.released) {
        batch = Array.from({ length: Math.min(max, this.released - from) }, () => ({ time: new Date(), content: "" }));
      } else if (batch.length === 0) {
        batch = rows.read(from, max, MAX_BATCH_BYTES);
      }
      if (batch.length === 0) return;
      const last = from + batch.length >= rows.count;
      let ack: number;
      try {
        const res = await this.call("UpdateLog", () => link.client.updateLog(
          {
            taskId: this.opts.taskId,
            index: BigInt(from),
            rows: logRows(batch),
            noMore: noMore && last,
          },
          this.callOptions(),
        ));
        ack = Number(res.ackIndex);
      } catch (err) {
        if (err instanceof ConnectError && err.code === Code.AlreadyExists) {
          // Archived: by our own no_more whose answer was lost, or by the server's zombie cleanup.
          this.archived = true;
          return;
        }
        throw err;
      }
      if (ack < from) {
        this.log.warn({ ack, acked: from }, "the server holds fewer rows than it acknowledged before; resending from its ack");
        this.ackIndex = ack;
        throw new Error(`server ack ${ack} is behind ${from}`);
      }
      const next = Math.min(ack, rows.count);
      if (next > this.ackIndex) {
        this.ackIndex = next;
        this.released = Math.max(this.released, next);
        await rows.acknowledge(next);
      }
      if (next < from + batch.length) throw new Error(`server acknowledged ${ack} of ${from + batch.length} rows`);
      if (noMore && last) this.archived = true;
    }
  }

  /** One UpdateTask; returns the server's result for the task (UNSPECIFIED while it runs). */
  async sendState(state: StateReport): Promise<Result> {
    const { link } = this.opts;
    if (link.revoked) throw link.revoked;
    const outputs: Record<string, string> = {};
    for (const [k, v] of Object.entries(state.outputs)) if (!this.sentOutputs.has(k)) outputs[k] = v;
    const res = await this.call("UpdateTask", () => link.client.updateTask(
      {
        state: {
          id: this.opts.taskId,
          result: state.result,
          startedAt: timestampFromDate(new Date(state.startedAt)),
          ...(state.stoppedAt !== undefined ? { stoppedAt: timestampFromDate(new Date(state.stoppedAt)) } : {}),
          steps: state.steps.map((s, id) => ({
            id: BigInt(id),
            result: s.result as Result,
            ...(s.startedAt !== undefined ? { startedAt: timestampFromDate(new Date(s.startedAt)) } : {}),
            ...(s.stoppedAt !== undefined ? { stoppedAt: timestampFromDate(new Date(s.stoppedAt)) } : {}),
            logIndex: BigInt(s.logIndex),
            logLength: BigInt(s.logLength),
          })),
        },
        outputs,
      },
      this.callOptions(),
    ));
    for (const k of res.sentOutputs) this.sentOutputs.add(k);
    return res.state?.result ?? Result.UNSPECIFIED;
  }

  private callOptions() {
    return this.opts.callTimeoutMs ? { timeoutMs: this.opts.callTimeoutMs } : undefined;
  }

  private async call<T>(rpc: "UpdateLog" | "UpdateTask", fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.opts.onCallError?.(rpc, err);
      throw err;
    }
  }
}

/** UpdateLog rows; rows of the same millisecond (most of a busy step's) share one Timestamp message. */
function logRows(batch: SpoolRow[]): Array<{ time: Timestamp; content: string }> {
  const out: Array<{ time: Timestamp; content: string }> = new Array(batch.length);
  let lastMs = NaN;
  let last: Timestamp | undefined;
  for (let i = 0; i < batch.length; i++) {
    const r = batch[i]!;
    const ms = r.time.getTime();
    if (ms !== lastMs || !last) {
      last = timestampFromDate(r.time);
      lastMs = ms;
    }
    out[i] = { time: last, content: r.content };
  }
  return out;
}
