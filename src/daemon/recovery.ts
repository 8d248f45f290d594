// Delivering what the task spools hold when the daemon that ran the task
// can no longer do it: after a crash (kill -9, power loss) the next start
// finds the orphaned spools, kills what their jobs left running, closes
// them as failed ("the runner restarted while this job was running") and
// delivers their logs and final state, all before any new work is fetched.
// Spools whose final report ran out of retries are delivered the same way,
// in the background, until the server takes them. Both go through the
// delivery live reporting uses (delivery.ts), with the same error rules.

import type { ReportRetryConfig } from "../config/types.js";
import type { Logger } from "../observability/logger.js";
import { Result } from "../protocol/index.js";
import { TaskDelivery, describeError, type DeliveryLink, type DeliveryOutcome, type RowSource } from "./delivery.js";
import { killJobLeftovers } from "./job-marker.js";
import { sleep } from "./retry.js";
import { TaskSpool, findOrphans, type SpoolMeta, type SpoolRow, type SpooledTaskState } from "./spool.js";

export const RESTART_LINE = "The runner restarted while this job was running";

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
 * last batch, then the final UpdateTask (TaskDelivery.deliverFinal). On
 * "undelivered" the spool is still complete for another attempt.
 */
export async function deliverFinishedSpool(
  journal: TaskSpool,
  link: DeliveryLink,
  opts: DeliverOptions,
  closed?: ClosedSpool,
): Promise<DeliveryOutcome> {
  const meta = await journal.meta();
  const state = closed?.state ?? (await journal.readState<SpooledTaskState>());
  if (!state?.final) throw new Error(`spool ${journal.dir} has no final state`);
  const delivery = new TaskDelivery({
    link,
    taskId: BigInt(meta.taskId),
    rows: spoolRows(journal, closed?.tail ?? []),
    acked: await journal.ack(),
    log: opts.log,
    ...(opts.maxBatchRows ? { maxBatchRows: opts.maxBatchRows } : {}),
    ...(opts.callTimeoutMs ? { callTimeoutMs: opts.callTimeoutMs } : {}),
  });
  const final = state.final;
  return delivery.deliverFinal(
    {
      startedAt: state.startedAt,
      steps: state.steps,
      result: final.result as Result,
      stoppedAt: final.stoppedAt,
      outputs: final.outputs,
    },
    opts.retry,
    opts.signal,
  );
}

export interface RecoveryOptions {
  /** `<state dir>/spool`. */
  spoolRoot: string;
  /** Links by connection name (SpoolMeta.connection). */
  links: Map<string, DeliveryLink>;
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
  /** Given up and removed: the server refuses the task (gone, not this runner's). */
  dropped: string[];
  /** Kept: their connection is not configured any more, or the server refuses this runner's credentials. */
  kept: string[];
  /** Kept: delivery failed for now (server away); retry later. */
  pending: string[];
}

/**
 * Crash recovery at daemon start: every spool not belonging to this process
 * is an orphan. Call it before any poller fetches.
 */
export async function recoverOrphans(opts: RecoveryOptions): Promise<RecoverySummary> {
  const summary: RecoverySummary = { recovered: [], dropped: [], kept: [], pending: [] };
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
        log.warn({ err: describeError(err) }, "could not kill the job's leftover processes");
        return 0;
      });
      if (killed > 0) log.warn({ processes: killed }, "killed processes the interrupted job left running");
      closed = await closeInterruptedSpool(spool);
      log.warn("the job was running when the runner stopped; reporting it as failed");
    }
    const link = opts.links.get(meta.connection);
    if (!link) {
      log.error({ spool: dir }, "the connection of this orphaned task is not configured any more; keeping its spool");
      spool.close();
      return "kept";
    }
    const outcome = await deliverFinishedSpool(spool, link, {
      retry: opts.retry,
      log,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.callTimeoutMs ? { callTimeoutMs: opts.callTimeoutMs } : {}),
    }, closed);
    switch (outcome) {
      case "delivered":
      case "already-done":
        log.info({ outcome }, outcome === "delivered" ? "reported the orphaned task" : "the server had already finished the orphaned task");
        await spool.remove();
        return "recovered";
      case "gone":
        log.warn({ spool: dir }, "removing the spool of a task the server does not take any more");
        await spool.remove();
        return "dropped";
      case "revoked":
        spool.close();
        return "kept";
      case "undelivered":
        spool.close();
        log.warn({ spool: dir }, "could not report an orphaned task yet; will retry");
        return "pending";
    }
  } catch (err) {
    spool?.close();
    opts.log.error({ spool: dir, err: describeError(err) }, "could not report an orphaned task yet; will retry");
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

/** The journal's rows followed by rows kept in memory (closing rows a full disk refused); acks go to the journal. */
function spoolRows(journal: TaskSpool, tail: SpoolRow[]): RowSource {
  return {
    get count() {
      return journal.rows + tail.length;
    },
    read(from: number, max: number, maxBytes: number): SpoolRow[] {
      if (from < journal.rows) return journal.read(from, Math.min(max, journal.rows - from), maxBytes);
      return tail.slice(from - journal.rows, from - journal.rows + max);
    },
    async acknowledge(n: number) {
      await journal.setAck(Math.min(n, journal.rows)).catch((err: unknown) => {
        if (!isStorageError(err)) throw err;
      });
    },
  };
}
