// Polls one connection (one Forgejo instance/scope) for tasks.
//
// - Declare at start; `unimplemented` (old server) is tolerated.
// - FetchTask at the pace of FetchPacer (faster for a while after activity,
//   fetch_interval otherwise, an optional idle backoff up to
//   fetch_interval_max, never beyond ~30 s so that the server keeps seeing
//   the runner), and at once when a slot frees. Slots are reserved before
//   the call so that several connections never take more tasks than the
//   shared capacity.
// - tasks_version: keep the largest seen, back to 0 after any task.
// - x-runner-request-key: the same key after an error (the server then
//   returns what it assigned to the lost answer), a new one after a success.
// - When all slots are busy and nothing else talks to this server, a
//   Declare every ~30 s keeps the runner from showing as offline.

import { randomUUID } from "node:crypto";
import type { Logger } from "../observability/logger.js";
import {
  Code, ConnectError, isUnimplemented, isUnregisteredRunner, type DeclareResponse, type ForgejoClient, type Task,
} from "../protocol/index.js";
import { describe } from "./reporter.js";
import type { Supervisor } from "./supervisor.js";
import { notify, type DaemonObserver } from "./observer.js";
import { FetchPacer } from "./fetch-pacer.js";

/** The server marks a runner offline after 60 s without a call; stay well below. */
export const MAX_SILENCE_MS = 30_000;
const CODEBERG_MIN_INTERVAL_MS = 30_000;

export interface PollerOptions {
  name: string;
  client: ForgejoClient;
  supervisor: Supervisor;
  fetchIntervalMs: number;
  /** Idle backoff ceiling (runner.fetch_interval_max); default (or ≤ fetchIntervalMs): no backoff. */
  fetchIntervalMaxMs?: number;
  fetchTimeoutMs: number;
  /** Label names sent with Declare. */
  labels: string[];
  version: string;
  log: Logger;
  /** Starts a task; called with a slot already reserved for it. */
  onTask: (task: Task, poller: Poller) => void;
  /** Ask for several tasks per call (task_capacity, sent over JSON). */
  multiTask?: boolean;
  onDeclared?: (res: DeclareResponse) => void | Promise<void>;
  /** The server does not know this runner: the poller has stopped. */
  onUnregistered?: (err: unknown) => void;
  observer?: DaemonObserver;
  /** Longest time without any call to this server while all slots are busy (default MAX_SILENCE_MS). */
  maxSilenceMs?: number;
}

/** Codeberg asks runners for at least 30 s between calls. */
function isCodeberg(url: string): boolean {
  let host = "";
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    // leave as is
  }
  return host === "codeberg.org" || host.endsWith(".codeberg.org");
}

export function effectiveFetchInterval(url: string, intervalMs: number): number {
  const interval = intervalMs > 0 ? intervalMs : 2000;
  return isCodeberg(url) ? Math.max(interval, CODEBERG_MIN_INTERVAL_MS) : interval;
}

export class Poller {
  readonly name: string;
  private readonly opts: PollerOptions;
  private readonly log: Logger;
  private readonly interval: number;
  private readonly maxInterval: number;
  private readonly pacer: FetchPacer;
  private tasksVersion = 0n;
  private requestKey = randomUUID();
  private stopped = false;
  private woken = false;
  private wakeup: (() => void) | undefined;
  private lastFetchAt = 0;
  private lastErrorLogAt = 0;
  private consecutiveErrors = 0;
  private unsubscribe: (() => void) | undefined;
  /** Tasks received (for tests and metrics). */
  fetched = 0;
  requests = 0;

  constructor(opts: PollerOptions) {
    this.opts = opts;
    this.name = opts.name;
    this.log = opts.log;
    this.interval = effectiveFetchInterval(opts.client.baseUrl, opts.fetchIntervalMs);
    // The backoff never makes the runner silent for longer than the server tolerates.
    this.maxInterval = Math.max(this.interval, Math.min(opts.fetchIntervalMaxMs ?? this.interval, this.maxSilence));
    this.pacer = new FetchPacer({
      intervalMs: this.interval,
      maxIntervalMs: this.maxInterval,
      noHotPolling: isCodeberg(opts.client.baseUrl),
    });
    if (this.interval !== opts.fetchIntervalMs && opts.fetchIntervalMs > 0) {
      this.log.info({ fetchIntervalMs: this.interval }, "fetch_interval raised to the server's minimum");
    }
  }

  private get maxSilence(): number {
    return this.opts.maxSilenceMs ?? MAX_SILENCE_MS;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Stops fetching. A fetch already on the wire completes and its tasks still run. */
  stop(): void {
    this.stopped = true;
    this.wake();
  }

  /** The wait between fetches right now (faster after activity, idle backoff included). */
  get nextInterval(): number {
    return this.pacer.wait(Date.now());
  }

  /** Fetch now (a job ended), or with `immediate` false just re-check the slots. */
  wake(immediate = true): void {
    if (immediate) {
      this.woken = true;
      this.pacer.activity(Date.now());
    }
    const w = this.wakeup;
    this.wakeup = undefined;
    w?.();
  }

  /** Declares, then polls until stop(). Resolves when polling has ended. */
  async run(): Promise<void> {
    this.unsubscribe = this.opts.supervisor.onSlotFreed((why) => this.wake(why === "task-ended"));
    try {
      if (!(await this.declare())) return;
      while (!this.stopped) {
        if (this.opts.supervisor.free() <= 0) {
          this.woken = false;
          await this.waitForWake(Math.max(10, this.maxSilence - (Date.now() - this.opts.client.lastContactAt)));
          if (!this.stopped && this.opts.supervisor.free() <= 0) await this.keepAlive();
          continue;
        }
        const wait = this.lastFetchAt + this.pacer.wait(Date.now()) - Date.now();
        if (wait > 0 && !this.woken) {
          // woken by a job's end while waiting: the flag makes the next pass fetch at once
          await this.waitForWake(wait);
          continue;
        }
        this.woken = false;
        await this.fetchOnce();
      }
    } finally {
      this.unsubscribe?.();
    }
  }

  /**
   * one-job: declare, then fetch until one call brings tasks (`wait`) or
   * just once. With `handle`, asks for that job attempt (FetchSingleTask).
   */
  async fetchUntilTask(opts: { wait: boolean; handle?: string }): Promise<Task[]> {
    if (!(await this.declare())) return [];
    for (;;) {
      const tasks = opts.handle !== undefined ? await this.fetchSingle(opts.handle) : await this.fetchOnce();
      if (tasks.length > 0 || !opts.wait || this.stopped) return tasks;
      await this.waitForWake(this.lastFetchAt + this.interval - Date.now());
      if (this.stopped) return [];
    }
  }

  private async fetchSingle(handle: string): Promise<Task[]> {
    const sup = this.opts.supervisor;
    if (sup.reserve(1) === 0) return [];
    this.lastFetchAt = Date.now();
    try {
      this.requests++;
      const res = await this.opts.client.fetchSingleTask({
        requestKey: this.requestKey,
        timeoutMs: this.opts.fetchTimeoutMs,
        handle: handle === "" ? undefined : handle,
      });
      this.requestKey = randomUUID();
      if (!res.task) {
        sup.release(1);
        return [];
      }
      this.fetched++;
      this.opts.onTask(res.task, this);
      return [res.task];
    } catch (err) {
      sup.release(1);
      this.onFetchError(err);
      return [];
    }
  }

  /**
   * One FetchTask call (one-job). Returns the tasks received; they are
   * handed to onTask as usual.
   */
  async fetchOnce(): Promise<Task[]> {
    const sup = this.opts.supervisor;
    const want = this.opts.multiTask ? sup.free() : 1;
    const reserved = sup.reserve(want);
    if (reserved === 0) return [];
    this.lastFetchAt = Date.now();
    let tasks: Task[] = [];
    try {
      this.requests++;
      const res = await this.opts.client.fetchTask(this.tasksVersion, {
        requestKey: this.requestKey,
        timeoutMs: this.opts.fetchTimeoutMs,
        capacity: reserved,
      });
      this.requestKey = randomUUID();
      notify(this.opts.observer, "contact", this.name, this.opts.client.baseUrl);
      if (this.consecutiveErrors > 0) this.log.info({ errors: this.consecutiveErrors }, "fetching tasks works again");
      this.consecutiveErrors = 0;
      if (res.tasksVersion > this.tasksVersion) this.tasksVersion = res.tasksVersion;
      tasks = [...(res.task ? [res.task] : []), ...res.additionalTasks];
      if (tasks.length > 0) {
        this.tasksVersion = 0n;
        this.pacer.activity(Date.now());
      } else {
        this.pacer.empty(Date.now());
      }
    } catch (err) {
      sup.release(reserved);
      this.onFetchError(err);
      return [];
    }
    let used = 0;
    for (const task of tasks) {
      used++;
      this.fetched++;
      this.log.info({ taskId: String(task.id) }, "task received");
      this.opts.onTask(task, this);
    }
    if (used < reserved) sup.release(reserved - used);
    return tasks;
  }

  private onFetchError(err: unknown): void {
    this.consecutiveErrors++;
    const e = ConnectError.from(err);
    notify(this.opts.observer, "fetchError", this.name, this.opts.client.baseUrl, Code[e.code] ?? String(e.code), e.rawMessage);
    if (isUnregisteredRunner(err)) {
      this.log.error({ err: describe(err) }, "the server does not know this runner (deleted or wrong token); stopping this connection");
      this.stopped = true;
      this.opts.onUnregistered?.(err);
      return;
    }
    const now = Date.now();
    if (this.consecutiveErrors === 1 || now - this.lastErrorLogAt > 60_000) {
      this.lastErrorLogAt = now;
      this.log.warn({ err: describe(err), errors: this.consecutiveErrors }, "fetching tasks failed; retrying with the same request key");
    } else {
      this.log.debug({ err: describe(err) }, "fetching tasks failed");
    }
  }

  private async declare(): Promise<boolean> {
    let delay = Math.min(this.interval, 5000);
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        this.requests++;
        const res = await this.opts.client.declare(this.opts.version, this.opts.labels, { timeoutMs: this.opts.fetchTimeoutMs * 2 });
        this.log.info({ labels: this.opts.labels, version: this.opts.version }, "declared");
        await this.opts.onDeclared?.(res);
        return true;
      } catch (err) {
        if (isUnimplemented(err)) {
          this.log.warn("the server does not implement Declare (old Forgejo); continuing");
          return true;
        }
        if (isUnregisteredRunner(err)) {
          this.log.error({ err: describe(err) }, "the server does not know this runner (deleted or wrong token)");
          this.stopped = true;
          this.opts.onUnregistered?.(err);
          return false;
        }
        this.log.warn({ err: describe(err), attempt }, "declare failed; retrying");
        await this.waitForWake(delay);
        delay = Math.min(delay * 2, MAX_SILENCE_MS);
      }
    }
    return false;
  }

  /** All slots busy: make sure the server still hears from us. */
  private async keepAlive(): Promise<void> {
    if (Date.now() - this.opts.client.lastContactAt < this.maxSilence) return;
    try {
      this.requests++;
      await this.opts.client.declare(this.opts.version, this.opts.labels, { timeoutMs: this.opts.fetchTimeoutMs });
    } catch (err) {
      if (isUnregisteredRunner(err)) this.onFetchError(err);
      else this.log.debug({ err: describe(err) }, "keep-alive failed");
    }
  }

  private waitForWake(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeup = undefined;
        resolve();
      }, Math.max(0, ms));
      this.wakeup = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
