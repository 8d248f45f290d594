// The daemon's side of a job worker: prepares the job's sandbox (directories,
// uid, cgroup), starts one worker inside it with a constant environment,
// sends it the task, relays its events, and cleans the sandbox up. Runs in the
// daemon, so it loads no engine, workflow or expression code: a worker is a
// separate process, and everything it says is checked.

import type { Emit, JobEvent } from "../engine/events.js";
import type { JobOutcome, JobRequest, RunJobOptions } from "../engine/job-request.js";
import type { JobSandbox, PrestartedProcess } from "../host/sandbox.js";
import type { Writable } from "node:stream";
import { ChannelError, decodeFromWorker, forEachRow, encode, HEARTBEAT_MS, LineReader, type ToWorker } from "./channel.js";
import { serveContainerCalls, type ContainerCalls } from "./container-calls.js";
import { prestart } from "../host/index.js";

export interface WorkerCommand {
  /** Program and arguments that start `job-worker` (node and the worker bundle). */
  argv: string[];
}

export interface RunInWorkerOptions extends RunJobOptions {
  worker: WorkerCommand;
  /** Silence after which a worker counts as hung (default 30 s; it says it is alive every 2 s). */
  hangTimeoutMs?: number;
  /** Daemon-side diagnostics (worker stderr, protocol errors); never job log rows. */
  diag?: (level: "info" | "warn", msg: string) => void;
  /** Keep the request's shared action cache (only where jobs may write it: no isolation). */
  sharedActionCache?: boolean;
  /**
   * A container job: makes its container around the host sandbox's directories. The worker still runs in the
   * host sandbox (the job's uid); its steps run in the container, through calls the daemon answers.
   */
  container?: (host: JobSandbox) => Promise<ContainerSide>;
}

/** The daemon's side of a job container. */
export interface ContainerSide {
  sandbox: JobSandbox;
  /** Programs found in the container (the engine's shell and node lookup). */
  programs: Record<string, string>;
}

/** Unread bytes on a worker's channel above which a container's output is paused. */
const CHANNEL_HIGH_WATER = 8 * 1024 * 1024;

/** One promise per full spell of a channel, however many chunks ask while it lasts. */
const draining = new WeakMap<Writable, Promise<void>>();

function drained(w: Writable): Promise<void> {
  let p = draining.get(w);
  if (!p) {
    p = new Promise((resolve) => {
      const done = () => {
        w.off("drain", done);
        w.off("close", done);
        draining.delete(w);
        resolve();
      };
      w.on("drain", done);
      w.on("close", done);
    });
    draining.set(w, p);
  }
  return p;
}

/** Same contract as the engine's runJob: never throws, always ends with `job-finished`. */
export async function runJobInWorker(req: JobRequest, opts: RunInWorkerOptions): Promise<JobOutcome> {
  const row = (line: string, stage: "setup" | "complete" = "complete") =>
    opts.emit({ type: "log", time: new Date(), line, stage });
  let outcome: JobOutcome = { result: "failure", outputs: {} };
  let sandbox: JobSandbox | undefined;
  let container: ContainerSide | undefined;
  try {
    sandbox = await opts.host.prepareJob({ jobKey: req.jobKey, ...(req.workspaceDir ? { workspaceDir: req.workspaceDir } : {}) });
    if (opts.container) container = await opts.container(sandbox);
    outcome = await superviseWorker(req, opts, sandbox, row, container);
  } catch (e) {
    row(`##[error]The runner failed to run the job: ${(e as Error).message}`, sandbox ? "complete" : "setup");
    outcome = { result: opts.signal.aborted ? "cancelled" : "failure", outputs: {} };
  } finally {
    await container?.sandbox.dispose().catch((e: Error) => row(`##[warning]Removing the job's containers failed: ${e.message}`));
    await sandbox?.dispose().catch((e: Error) => row(`##[warning]Cleaning up the job failed: ${e.message}`));
  }
  opts.emit({ type: "job-finished", time: new Date(), result: outcome.result, outputs: outcome.outputs });
  return outcome;
}

async function superviseWorker(
  req: JobRequest,
  opts: RunInWorkerOptions,
  sandbox: JobSandbox,
  row: (line: string) => void,
  container: ContainerSide | undefined,
): Promise<JobOutcome> {
  const diag = opts.diag ?? (() => {});
  const request: JobRequest = { ...req };
  if (!opts.sharedActionCache) delete request.actionCacheDir;
  const uid = sandbox.killHints?.().uid;
  const start: ToWorker = {
    type: "start",
    request,
    dirs: sandbox.dirs,
    baseEnv: container ? container.sandbox.baseEnv : sandbox.baseEnv,
    backendName: opts.host.name,
    ...(container ? { container: { programs: container.programs } } : {}),
    ...(uid !== undefined ? { gitIdentity: { name: "native-runner job", email: `job-${uid}@native-runner.invalid` } } : {}),
  };

  let done: JobOutcome | undefined;
  let failure: string | undefined;
  let lastHeard = Date.now();
  let stdin: Writable | undefined;
  const kill = new AbortController();
  const stopWorker = (why: string) => {
    failure ??= why;
    if (!kill.signal.aborted) kill.abort();
  };
  const send = (msg: ToWorker) => {
    if (stdin && !stdin.destroyed && stdin.writable) stdin.write(encode(msg));
  };
  const forward: Emit = opts.emit;
  let calls: ContainerCalls | undefined;
  if (container) {
    calls = serveContainerCalls(
      container.sandbox,
      (m) => send(m),
      (why) => {
        diag("warn", `job worker broke the container protocol (${why}): stopping it`);
        stopWorker(`The job stopped: ${why}.`);
      },
      // A container can print faster than its worker masks: its output waits while the channel holds too much.
      () => (stdin && !stdin.destroyed && stdin.writableLength > CHANNEL_HIGH_WATER ? drained(stdin) : undefined),
    );
  }
  /** The worker said something besides "alive": it got its start message and is working on the job. */
  let working = false;
  const newReader = () => new LineReader(
    (line, payload) => {
      lastHeard = Date.now();
      if (failure) return;
      try {
        const msg = decodeFromWorker(line, payload);
        if (msg.type !== "alive") working = true;
        // The worker's result is its last message: whatever follows it (a second result included) was not the worker's.
        if (done) throw new ChannelError(`a "${msg.type}" message after the result`);
        if (msg.type === "event") {
          if (msg.event.type !== "job-finished") forward(msg.event as JobEvent);
        } else if (msg.type === "logs") {
          forEachRow(msg, (time, line) => {
            const e: JobEvent = { type: "log", time, line, stage: msg.stage };
            if (msg.stepIndex !== undefined) e.stepIndex = msg.stepIndex;
            forward(e);
          });
        } else if (msg.type === "done") done = msg.outcome;
        else if (msg.type !== "alive") {
          if (!calls) throw new ChannelError("a container call from a job without a container");
          calls.handle(msg);
        }
      } catch (err) {
        const why = err instanceof ChannelError ? err.message : String(err);
        diag("warn", `job worker sent an invalid message (${why}): stopping it`);
        stopWorker("The job worker sent an invalid message; the job was stopped.");
      }
    },
    () => stopWorker("The job worker sent a message over the size limit; the job was stopped."),
  );
  let stderrTail = "";
  const onCancel = () => send({ type: "cancel", message: String((opts.signal.reason as Error | undefined)?.message ?? "cancelled") });
  opts.signal.addEventListener("abort", onCancel, { once: true });
  const hangMs = opts.hangTimeoutMs ?? 30_000;
  const watchdog = setInterval(() => {
    if (Date.now() - lastHeard > hangMs) {
      diag("warn", `job worker silent for ${Date.now() - lastHeard} ms: stopping it`);
      stopWorker(`The job worker stopped responding for ${Math.round(hangMs / 1000)} s; the job was stopped.`);
    }
  }, Math.min(HEARTBEAT_MS, hangMs));
  watchdog.unref();
  try {
    // A worker started ahead of its task in this very sandbox (warm-workers.ts) has booted already; else start one.
    const taken = sandbox.takePrestarted?.();
    const usable = taken && !taken.exited && sameArgv(taken.argv, opts.worker.argv) ? taken : undefined;
    if (taken && !usable) taken.kill();
    const [file, ...args] = opts.worker.argv;
    const run = async (proc: PrestartedProcess) => {
      if (kill.signal.aborted) proc.kill();
      else kill.signal.addEventListener("abort", () => proc.kill(), { once: true });
      const reader = newReader();
      proc.attach({
        onStdout: (c) => reader.push(c),
        onStderr: (c) => {
          lastHeard = Date.now();
          stderrTail = (stderrTail + c.toString()).slice(-4096);
        },
      });
      void proc.stdin.then((w) => {
        stdin = w;
        w.write(encode(start));
        if (opts.signal.aborted) onCancel();
      });
      const exit = await proc.exit;
      if (proc.startError) throw proc.startError;
      return exit;
    };
    const fresh = () => prestart(sandbox, { file: file!, args, cwd: sandbox.dirs.workspace, env: sandbox.baseEnv });
    let exit = await run(usable ?? fresh());
    if (usable && !working && !done && !failure && !opts.signal.aborted) {
      // The worker started ahead of the task ended before it took the task up (killed while it waited): nothing of
      // the job ran, so a worker started now runs it.
      diag("warn", `the job worker started ahead of the task had ended (${exit.signal ?? `exit code ${exit.code}`}): starting another`);
      stderrTail = "";
      exit = await run(fresh());
    }
    const oom = await sandbox.oomReport?.();
    if (oom) row(`##[error]${oom}`);
    if (stderrTail.trim()) diag(done ? "info" : "warn", `job worker stderr: ${stderrTail.trim()}`);
    if (failure) {
      row(`##[error]${failure}`);
      return { result: opts.signal.aborted ? "cancelled" : "failure", outputs: {} };
    }
    // A result counts only from a worker that then exited cleanly: one killed after a result was not done.
    if (!done || exit.code !== 0) {
      const how = exit.code !== null ? `exit code ${exit.code}` : `signal ${exit.signal ?? "?"}`;
      const after = done ? " after a result arrived" : "";
      row(`##[error]The job worker exited unexpectedly (${how}${exit.oomKilled ? ", out of memory" : ""})${after}; the job failed.`);
      return { result: opts.signal.aborted ? "cancelled" : "failure", outputs: {} };
    }
    return done;
  } finally {
    calls?.end();
    clearInterval(watchdog);
    opts.signal.removeEventListener("abort", onCancel);
    stdin?.destroy();
  }
}

function sameArgv(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
