// Runs tasks within the runner's capacity, shared by every connection.
// Each task gets its own AbortController: the runner.timeout deadline, a
// server-side cancel and shutdown all abort it with a reason the task runner
// turns into a log row.

import type { Logger } from "../observability/logger.js";

export type SlotEvent = "task-ended" | "released";

/**
 * `journal`: the runner could not journal the job (disk full, I/O error);
 * `crash`: an exception nobody caught inside the task. The job fails.
 */
export type AbortKind = "server" | "timeout" | "shutdown" | "journal" | "crash";

export const TIMEOUT_MESSAGE = "The runner cancelled the job because it exceeds the maximum run time";

/** The abort reason of a task signal. */
export class TaskAbort extends Error {
  constructor(readonly kind: AbortKind, message: string) {
    super(message);
    this.name = "TaskAbort";
  }
}

export interface TaskHandle {
  readonly signal: AbortSignal;
  cancel(kind: AbortKind, message: string): void;
  /**
   * The job itself is over (its processes are gone); only its final report
   * is still being sent. Frees the slot so the next task can start now.
   */
  jobEnded(): void;
}

export interface SupervisorOptions {
  capacity: number;
  /** runner.timeout; 0 = none. */
  taskTimeoutMs: number;
  /** runner.shutdown_timeout: grace period for running tasks on shutdown. */
  shutdownTimeoutMs: number;
  log: Logger;
}

interface Running {
  name: string;
  controller: AbortController;
  done: Promise<void>;
}

export class Supervisor {
  readonly capacity: number;
  private readonly opts: SupervisorOptions;
  private readonly running = new Map<number, Running>();
  /** Tasks past their job, still sending their final report. */
  private readonly finishing = new Map<number, Running>();
  private reservedSlots = 0;
  private nextId = 1;
  private readonly slotListeners = new Set<(why: SlotEvent) => void>();
  private stoppingFlag = false;
  /** Shutdown gave up waiting: tasks that still arrive (from a fetch already on the wire) are cancelled at once. */
  private cancelling = false;

  constructor(opts: SupervisorOptions) {
    this.opts = opts;
    this.capacity = Math.max(1, Math.floor(opts.capacity));
  }

  get runningCount(): number {
    return this.running.size;
  }

  get stopping(): boolean {
    return this.stoppingFlag;
  }

  free(): number {
    if (this.stoppingFlag) return 0;
    return Math.max(0, this.capacity - this.running.size - this.reservedSlots);
  }

  /** Holds up to `n` free slots for a fetch in flight; returns how many it got. */
  reserve(n: number): number {
    const got = Math.min(Math.max(0, n), this.free());
    this.reservedSlots += got;
    return got;
  }

  release(n: number): void {
    const before = this.free();
    this.reservedSlots = Math.max(0, this.reservedSlots - n);
    if (n > 0 && this.free() > before) this.notifySlot("released");
  }

  /** Called when a slot frees up: a task ended, or a fetch released its unused reservation. */
  onSlotFreed(listener: (why: SlotEvent) => void): () => void {
    this.slotListeners.add(listener);
    return () => this.slotListeners.delete(listener);
  }

  /**
   * Runs a task. With `reserved`, one reserved slot is consumed; a task the
   * server sent beyond what was reserved still runs (over capacity) rather
   * than being left assigned and forgotten.
   */
  start(name: string, run: (handle: TaskHandle) => Promise<void>, opts: { reserved?: boolean } = {}): Promise<void> {
    if (opts.reserved && this.reservedSlots > 0) this.reservedSlots--;
    const id = this.nextId++;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const handle: TaskHandle = {
      signal: controller.signal,
      cancel: (kind, message) => {
        if (!controller.signal.aborted) controller.abort(new TaskAbort(kind, message));
      },
      jobEnded: () => {
        const r = this.running.get(id);
        if (!r) return;
        if (timer) clearTimeout(timer);
        this.running.delete(id);
        this.finishing.set(id, r);
        this.notifySlot("task-ended");
      },
    };
    if (this.opts.taskTimeoutMs > 0) {
      timer = setTimeout(() => handle.cancel("timeout", TIMEOUT_MESSAGE), this.opts.taskTimeoutMs);
    }
    // Registered before the task starts: it may call jobEnded() synchronously.
    const entry: Running = { name, controller, done: Promise.resolve() };
    this.running.set(id, entry);
    const done = (async () => {
      try {
        await run(handle);
      } catch (err) {
        this.opts.log.error({ task: name, err: err instanceof Error ? err.stack : String(err) }, "task crashed");
      } finally {
        if (timer) clearTimeout(timer);
        this.finishing.delete(id);
        if (this.running.delete(id)) this.notifySlot("task-ended");
      }
    })();
    entry.done = done;
    if (this.stoppingFlag && (this.opts.shutdownTimeoutMs <= 0 || this.cancelling)) handle.cancel("shutdown", shutdownMessage());
    return done;
  }

  /** Aborts every running task. */
  cancelAll(kind: AbortKind, message: string): void {
    for (const r of this.running.values()) {
      if (!r.controller.signal.aborted) r.controller.abort(new TaskAbort(kind, message));
    }
  }

  /** Resolves when no task runs and every final report is done. */
  async idle(): Promise<void> {
    while (this.running.size > 0 || this.finishing.size > 0) {
      await Promise.all([...this.running.values(), ...this.finishing.values()].map((r) => r.done));
    }
  }

  /**
   * Graceful stop: no new tasks; running ones get `shutdown_timeout` to
   * finish, then are cancelled. Resolves when every task (and its final
   * report) is done.
   */
  async shutdown(): Promise<void> {
    if (!this.stoppingFlag) {
      this.stoppingFlag = true;
      if (this.running.size > 0) {
        this.opts.log.info(
          { running: this.running.size, graceMs: this.opts.shutdownTimeoutMs },
          "shutting down: waiting for running jobs",
        );
      }
    }
    if (this.opts.shutdownTimeoutMs > 0 && this.running.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<"expired">((resolve) => {
        timer = setTimeout(() => resolve("expired"), this.opts.shutdownTimeoutMs);
      });
      const outcome = await Promise.race([this.idle().then(() => "idle" as const), expired]);
      clearTimeout(timer);
      if (outcome === "idle") return;
    }
    if (this.running.size > 0) {
      this.cancelling = true;
      this.opts.log.warn({ running: this.running.size }, "shutdown: cancelling running jobs");
      this.cancelAll("shutdown", shutdownMessage());
    }
    await this.idle();
  }

  private notifySlot(why: SlotEvent): void {
    for (const l of [...this.slotListeners]) {
      try {
        l(why);
      } catch {
        // listeners must not break the supervisor
      }
    }
  }
}

function shutdownMessage(): string {
  return "The runner is shutting down: the job was cancelled";
}
