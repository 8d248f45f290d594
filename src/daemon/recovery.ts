// Delivering what the task spools hold when the daemon that ran the task
// can no longer do it: after a crash (kill -9, power loss) the next start
// finds the orphaned spools, kills what their jobs left running, closes
// them as failed ("the runner restarted while this job was running") and
// delivers their logs and final state, all before any new work is fetched.
// Spools whose final report ran out of retries are delivered the same way,
// in the background, until the server takes them.

import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ReportRetryConfig } from "../config/types.js";
import type { Logger } from "../observability/logger.js";
import { Code, ConnectError, Result, isUnregisteredRunner, type ForgejoClient } from "../protocol/index.js";
import { killJobLeftovers } from "./job-marker.js";
import { retryWithBackoff, sleep } from "./retry.js";
import { TaskSpool, findOrphans, type SpoolMeta, type SpoolRow, type SpooledTaskState } from "./spool.js";

export const RESTART_LINE = "The runner restarted while this job was running";

export type DeliveryClient = Pick<ForgejoClient, "updateTask" | "updateLog">;

export type DeliveryOutcome =
  /** The server took the log and the final state. */
  | "delivered"
  /** The server had already finished the task (cancelled, zombie-stopped): nothing more to say. */
  | "already-done";

export interface DeliverOptions {
  retry: ReportRetryConfig;
  log: Logger;
  signal?: AbortSignal;
  maxBatchRows?: number;
  callTimeoutMs?: number;
}

/**
 * Turns the spool of a job that was running when its daemon died into a
 * finished one: the restart row is journaled as the last row, the running
 * step fails, steps never started are cancelled. Idempotent.
 */
export async function closeInterruptedSpool(spool: TaskSpool, now = new Date()): Promise<ClosedSpool> {
  const meta = await spool.meta();
  const state: SpooledTaskState = (await spool.readState<SpooledTaskState>()) ?? {
    startedAt: Date.parse(meta.startedAt) || now.getTime(),
    steps: [],
  };
  if (state.final) return { state, tail: [] };
  // With the disk full (or failing) the closing rows and state stay in
  // memory: they are delivered from there, the journal keeps what it has.
  const tail: SpoolRow[] = [];
  const append = (rows: SpoolRow[]) => {
    if (tail.length === 0) {
      try {
        spool.append(rows);
        return;
      } catch (err) {
        if (!isStorageError(err)) throw err;
      }
    }
    tail.push(...rows);
  };
  const total = () => spool.rows + tail.length;
  const ack = await spool.ack();
  // Rows the server holds but the journal lost (power loss before an fsync):
  // placeholders keep the indexes aligned; the server ignores rows below its ack.
  if (total() < ack) {
    append(Array.from({ length: ack - total() }, () => ({ time: now, content: "" })));
  }
  const steps = state.steps ?? [];
  while (steps.length < meta.stepCount) steps.push({ result: Result.UNSPECIFIED, logIndex: 0, logLength: 0 });
  const restartIndex = total();
  append([{ time: now, content: RESTART_LINE }]);
  let running = -1;
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i]!;
    if (s.result !== Result.UNSPECIFIED) continue;
    if (s.startedAt !== undefined && running < 0) {
      running = i;
      s.result = Result.FAILURE;
      // its window reaches to the restart row (rows after the last journaled state belong to it)
      s.logLength = restartIndex + 1 - s.logIndex;
    } else {
      s.result = Result.CANCELLED;
      s.startedAt ??= now.getTime();
      if (s.logLength === 0) s.logIndex = restartIndex + 1;
    }
    s.stoppedAt = now.getTime();
  }
  state.steps = steps;
  state.final = { result: Result.FAILURE, stoppedAt: now.getTime(), outputs: {}, restarted: true };
  try {
    spool.sync();
    await spool.writeState(state);
  } catch (err) {
    if (!isStorageError(err)) throw err;
  }
  return { state, tail };
}

export interface ClosedSpool {
  state: SpooledTaskState;
  /** Closing rows that could not be journaled (disk full): they follow the journal's rows. */
  tail: SpoolRow[];
}

/** A write failed for want of space or by an I/O error: the journal is read-only from now on. */
export function isStorageError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOSPC" || code === "EDQUOT" || code === "EIO" || code === "EROFS" || code === "EFBIG";
}

/**
 * Sends a finished spool: rows from the stored ack with `no_more` on the
 * last batch, then the final UpdateTask, each retried with backoff (a call
 * that moved things forward restarts the count). Throws when the retries
 * ran out; the spool is then still complete for another attempt.
 */
export async function deliverFinishedSpool(
  journal: TaskSpool,
  client: DeliveryClient,
  opts: DeliverOptions,
  closed?: ClosedSpool,
): Promise<DeliveryOutcome> {
  const meta = await journal.meta();
  const state = closed?.state ?? (await journal.readState<SpooledTaskState>());
  if (!state?.final) throw new Error(`spool ${journal.dir} has no final state`);
  const spool = withTail(journal, closed?.tail ?? []);
  const taskId = BigInt(meta.taskId);
  const log = opts.log;
  const max = opts.maxBatchRows ?? 1000;
  let offset = Math.min(await journal.ack(), spool.rows);
  let archived = false;
  let seen = offset;
  const retry = {
    ...opts.retry,
    ...(opts.signal ? { signal: opts.signal } : {}),
    isFatal: (err: unknown) => isUnregisteredRunner(err) || isForeignTask(err),
    progressed: () => {
      const moved = offset > seen;
      seen = offset;
      return moved;
    },
    onRetry: (err: unknown, attempt: number, delayMs: number) =>
      log.warn({ err: describeErr(err), attempt, delayMs }, "delivering the spooled report failed; retrying"),
  };

  await retryWithBackoff(async () => {
    while (!archived && offset < spool.rows) {
      const batch = spool.read(offset, max);
      if (batch.length === 0) break;
      const last = offset + batch.length >= spool.rows;
      let ack: number;
      try {
        const res = await client.updateLog(
          {
            taskId,
            index: BigInt(offset),
            rows: batch.map((r) => ({ time: timestampFromDate(r.time), content: r.content })),
            noMore: last,
          },
          opts.callTimeoutMs ? { timeoutMs: opts.callTimeoutMs } : undefined,
        );
        ack = Number(res.ackIndex);
      } catch (err) {
        if (err instanceof ConnectError && err.code === Code.AlreadyExists) {
          // archived: by our own lost no_more answer, or by the server's zombie cleanup
          archived = true;
          break;
        }
        throw err;
      }
      if (ack < offset) {
        log.warn({ ack, offset }, "the server holds fewer rows than it acknowledged before; resending from its ack");
        offset = ack;
        throw new Error(`server ack ${ack} behind`);
      }
      const before = offset;
      const next = Math.min(ack, spool.rows);
      if (next > offset) {
        offset = next;
        await journal.setAck(Math.min(offset, journal.rows)).catch((err: unknown) => {
          if (!isStorageError(err)) throw err;
        });
      }
      if (last) {
        if (ack < spool.rows) throw new Error(`server acknowledged ${ack} of ${spool.rows} rows`);
        archived = true;
      } else if (next < before + batch.length) {
        throw new Error(`server acknowledged ${ack} of ${before + batch.length} rows`);
      }
    }
  }, retry);

  let outcome: DeliveryOutcome = "delivered";
  await retryWithBackoff(async () => {
    const final = state.final!;
    const res = await client.updateTask(
      {
        state: {
          id: taskId,
          result: final.result as Result,
          startedAt: timestampFromDate(new Date(state.startedAt)),
          stoppedAt: timestampFromDate(new Date(final.stoppedAt)),
          steps: state.steps.map((s, id) => ({
            id: BigInt(id),
            result: s.result as Result,
            ...(s.startedAt !== undefined ? { startedAt: timestampFromDate(new Date(s.startedAt)) } : {}),
            ...(s.stoppedAt !== undefined ? { stoppedAt: timestampFromDate(new Date(s.stoppedAt)) } : {}),
            logIndex: BigInt(s.logIndex),
            logLength: BigInt(s.logLength),
          })),
        },
        outputs: final.outputs,
      },
      opts.callTimeoutMs ? { timeoutMs: opts.callTimeoutMs } : undefined,
    );
    const remote = res.state?.result ?? Result.UNSPECIFIED;
    if (remote !== Result.UNSPECIFIED && remote !== final.result) outcome = "already-done";
    const missing = Object.keys(final.outputs).filter((k) => !res.sentOutputs.includes(k));
    if (missing.length > 0 && outcome === "delivered") throw new Error(`outputs not acknowledged yet: ${missing.join(", ")}`);
  }, retry);
  return outcome;
}

/** A task this runner does not own (any more): retrying cannot help. */
function isForeignTask(err: unknown): boolean {
  return err instanceof ConnectError && /invalid runner for task|task .*not found|no such task/i.test(err.rawMessage);
}

export interface RecoveryOptions {
  /** `<state dir>/spool`. */
  spoolRoot: string;
  /** Clients by connection name (SpoolMeta.connection). */
  clients: Map<string, DeliveryClient>;
  retry: ReportRetryConfig;
  log: Logger;
  signal?: AbortSignal;
  /** Kills a job's leftovers (default: killJobLeftovers from the spool's meta). */
  killLeftovers?: (meta: SpoolMeta) => Promise<number>;
  callTimeoutMs?: number;
}

export interface RecoverySummary {
  /** Spool keys delivered (or found already done on the server) and removed. */
  recovered: string[];
  /** Kept: their connection is not configured any more, or the server refuses this runner's reports for them. */
  kept: string[];
  /** Kept: delivery failed for now (server away); retry later. */
  pending: string[];
}

/**
 * Crash recovery at daemon start: every spool not belonging to this process
 * is an orphan. Call it before any poller fetches.
 */
export async function recoverOrphans(opts: RecoveryOptions): Promise<RecoverySummary> {
  const summary: RecoverySummary = { recovered: [], kept: [], pending: [] };
  const dirs = await findOrphans(opts.spoolRoot);
  if (dirs.length === 0) return summary;
  opts.log.warn({ orphans: dirs.length }, "found tasks of an earlier runner process; reporting them before fetching new work");
  await Promise.all(dirs.map(async (dir) => {
    const key = dir.slice(dir.lastIndexOf("/") + 1);
    const result = await recoverOne(dir, opts);
    summary[result].push(key);
  }));
  return summary;
}

async function recoverOne(dir: string, opts: RecoveryOptions): Promise<keyof RecoverySummary> {
  let spool: TaskSpool | undefined;
  let closed: ClosedSpool | undefined;
  try {
    spool = await TaskSpool.open(dir);
    const meta = await spool.meta();
    const log = opts.log.child({ taskId: meta.taskId, repo: meta.repository, job: meta.job, connection: meta.connection });
    const state = await spool.readState<SpooledTaskState>();
    if (!state?.final) {
      const killed = await (opts.killLeftovers ?? killJobLeftovers)(meta).catch((err: unknown) => {
        log.warn({ err: describeErr(err) }, "could not kill the job's leftover processes");
        return 0;
      });
      if (killed > 0) log.warn({ processes: killed }, "killed processes the interrupted job left running");
      closed = await closeInterruptedSpool(spool);
      log.warn("the job was running when the runner stopped; reporting it as failed");
    }
    const client = opts.clients.get(meta.connection);
    if (!client) {
      log.error({ spool: dir }, "the connection of this orphaned task is not configured any more; keeping its spool");
      spool.close();
      return "kept";
    }
    const outcome = await deliverFinishedSpool(spool, client, {
      retry: opts.retry,
      log,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.callTimeoutMs ? { callTimeoutMs: opts.callTimeoutMs } : {}),
    }, closed);
    log.info({ outcome }, outcome === "delivered" ? "reported the orphaned task" : "the server had already finished the orphaned task");
    await spool.remove();
    return "recovered";
  } catch (err) {
    spool?.close();
    if (isUnregisteredRunner(err) || isForeignTask(err)) {
      // Retrying cannot help (runner deleted or re-registered): keep the spool for a human to look at.
      opts.log.error({ spool: dir, err: describeErr(err) }, "the server does not accept reports of this orphaned task from this runner; keeping its spool");
      return "kept";
    }
    opts.log.error({ spool: dir, err: describeErr(err) }, "could not report an orphaned task yet; will retry");
    return "pending";
  }
}

/**
 * Keeps delivering finished spools the normal path gave up on (final report
 * retries ran out while the server was away), with a backoff up to a minute.
 */
export class Redeliverer {
  private readonly queue = new Map<string, string>();
  private readonly controller = new AbortController();
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly opts: Omit<RecoveryOptions, "signal" | "spoolRoot"> & { maxDelayMs?: number }) {}

  get size(): number {
    return this.queue.size;
  }

  /** Adds a spool directory (its connection name is read from its meta). */
  add(dir: string): void {
    this.queue.set(dir, dir);
    this.wake?.();
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.controller.abort();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    let delay = Math.max(100, this.opts.retry.initial_delay);
    const maxDelay = this.opts.maxDelayMs ?? 60_000;
    while (!this.controller.signal.aborted && this.queue.size > 0) {
      let progress = false;
      for (const dir of [...this.queue.keys()]) {
        if (this.controller.signal.aborted) break;
        const r = await recoverOne(dir, { ...this.opts, spoolRoot: "", signal: this.controller.signal });
        if (r !== "pending") {
          this.queue.delete(dir);
          progress = true;
        }
      }
      if (this.queue.size === 0) break;
      delay = progress ? Math.max(100, this.opts.retry.initial_delay) : Math.min(delay * 2, maxDelay);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        void sleep(delay, this.controller.signal).then(resolve);
      });
      this.wake = undefined;
    }
    this.loop = undefined;
  }
}

function describeErr(err: unknown): string {
  if (err instanceof ConnectError) return `[${Code[err.code] ?? err.code}] ${err.rawMessage}`;
  return err instanceof Error ? err.message : String(err);
}

/** The journal's rows followed by rows kept in memory. */
function withTail(journal: TaskSpool, tail: SpoolRow[]): Pick<TaskSpool, "rows" | "read"> {
  if (tail.length === 0) return journal;
  return {
    get rows() {
      return journal.rows + tail.length;
    },
    read(from: number, max: number): SpoolRow[] {
      if (from < journal.rows) return journal.read(from, Math.min(max, journal.rows - from));
      return tail.slice(from - journal.rows, from - journal.rows + max);
    },
  };
}
