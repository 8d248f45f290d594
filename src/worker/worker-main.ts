// The job worker: one process per job, started by the daemon with the job's
// privileges (its uid, sandbox and cgroup). It reads a start message, runs
// the engine on the prepared directories and streams the engine's events
// back; cancel and shutdown stop the job, and so does the daemon going away
// (stdin closing).

import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { runJob } from "../engine/index.js";
import { withWorkflowCalls } from "../exec/index.js";
import type { JobOutcome } from "../engine/job-request.js";
import { PreparedBackend } from "../host/index.js";
import type { HostBackend } from "../host/sandbox.js";
import { decodeToWorker, encodeParts, HEARTBEAT_MS, LineReader, MAX_BATCH_ROWS, type FromWorker, type LogBatch, type StartMessage } from "./channel.js";
import type { LogEvent, LogStage } from "../engine/events.js";
import { RemoteContainerSandbox } from "./remote-container-sandbox.js";
import { parseTaskPayload, payloadJob } from "../workflow/index.js";

/** A job like most: what a waiting worker reads once before its task comes. */
const WARM_UP_PAYLOAD = `name: warm-up
on: push
jobs:
  build:
    runs-on: native
    env:
      A: \${{ github.sha }}
    steps:
      - uses: actions/checkout@v4
      - name: test
        run: echo "\${{ matrix.x || 'x' }}"
        if: \${{ success() && github.event_name == 'push' }}
`;

/** The daemon's crash-recovery marker (daemon/job-marker.ts) reaches every step. */
const MARKER_ENV = "NATIVE_RUNNER_JOB";

export async function workerMain(input: Readable, output: Writable): Promise<number> {
  const send = (msg: FromWorker) => {
    const parts = encodeParts(msg);
    if (parts.length === 1) return void output.write(parts[0]!);
    output.cork();
    for (const p of parts) output.write(p);
    output.uncork();
  };
  const abort = new AbortController();
  let started: Promise<JobOutcome> | undefined;
  let resolveStart!: (m: StartMessage) => void;
  let rejectStart!: (e: Error) => void;
  const startMsg = new Promise<StartMessage>((res, rej) => {
    resolveStart = res;
    rejectStart = rej;
  });
  let remote: RemoteContainerSandbox | undefined;
  const stop = (why: string) => {
    if (!abort.signal.aborted) abort.abort(new Error(why));
    if (!started) rejectStart(new Error(why));
  };
  const gone = (why: string) => {
    remote?.end(why);
    stop(why);
  };
  const reader = new LineReader(
    (line) => {
      let msg;
      try {
        msg = decodeToWorker(line);
      } catch (err) {
        process.stderr.write(`job-worker: bad message from the daemon: ${(err as Error).message}\n`);
        return stop("bad message from the daemon");
      }
      switch (msg.type) {
        case "start":
          resolveStart(msg);
          break;
        case "cancel":
          stop(msg.message);
          break;
        case "shutdown":
          stop("The runner is shutting down");
          break;
        case "output":
        case "exit":
        case "call-failed":
          remote?.reply(msg);
          break;
      }
    },
    () => stop("message from the daemon too long"),
  );
  input.on("data", (c: Buffer) => reader.push(c));
  // A worker started ahead of its task (warm-workers.ts) waits for its start message: meanwhile it reads a
  // workflow once, so that the task's first read does not pay for compiling the reader and building the schema.
  // A worker started for its task finds the message already there and skips this.
  let gotStart = false;
  void startMsg.then(() => (gotStart = true), () => {});
  setImmediate(() => {
    if (gotStart || abort.signal.aborted) return;
    try {
      payloadJob(WARM_UP_PAYLOAD);
      parseTaskPayload(WARM_UP_PAYLOAD, "warm-up.yml");
    } catch {
      // only a warm-up
    }
  });
  input.on("end", () => gone("the runner went away"));
  input.on("error", () => gone("the runner went away"));
  const heartbeat = setInterval(() => send({ type: "alive" }), HEARTBEAT_MS);
  try {
    let start: StartMessage;
    try {
      start = await startMsg;
    } catch (err) {
      process.stderr.write(`job-worker: no job: ${(err as Error).message}\n`);
      return 2;
    }
    if (start.gitIdentity) await writeGitConfig(start.dirs.home, start.gitIdentity);
    const baseEnv = { ...start.baseEnv };
    const marker = process.env[MARKER_ENV];
    if (marker) baseEnv[MARKER_ENV] = marker;
    let host: HostBackend;
    if (start.container) {
      const sandbox = new RemoteContainerSandbox(start.dirs, baseEnv, start.container.programs, send);
      remote = sandbox;
      host = { name: start.backendName, prepareJob: () => Promise.resolve(sandbox) };
    } else {
      host = new PreparedBackend(start.backendName, start.dirs, baseEnv);
    }
    // A job that calls a reusable workflow runs the called jobs here, one after the other, in this sandbox.
    const logs = new LogBatcher(send);
    started = withWorkflowCalls(runJob)(start.request, {
      emit: (event) => {
        if (event.type === "log") return logs.add(event);
        logs.flush();
        // The daemon reports the job's end once the sandbox is cleaned up.
        if (event.type !== "job-finished") send({ type: "event", event });
      },
      signal: abort.signal,
      host,
    });
    const outcome = await started;
    logs.flush();
    send({ type: "done", outcome });
    return 0;
  } finally {
    clearInterval(heartbeat);
    input.destroy();
    await new Promise<void>((resolve) => output.end(resolve));
  }
}

/** Gathers consecutive log rows into one message, sent before any other event and at the end of each turn. */
class LogBatcher {
  private batch: { stage: LogStage; stepIndex: number | undefined; lines: string[]; spans: number[] } | undefined;
  private scheduled = false;

  constructor(private readonly send: (msg: FromWorker) => void) {}

  add(e: LogEvent): void {
    if (e.line.includes("\n")) {
      this.flush();
      this.send({ type: "event", event: e });
      return;
    }
    let b = this.batch;
    if (!b || b.stage !== e.stage || b.stepIndex !== e.stepIndex || b.lines.length >= MAX_BATCH_ROWS) {
      this.flush();
      b = this.batch = { stage: e.stage, stepIndex: e.stepIndex, lines: [], spans: [] };
    }
    const t = e.time.getTime();
    if (b.spans.length > 0 && b.spans[b.spans.length - 2] === t) b.spans[b.spans.length - 1]!++;
    else b.spans.push(t, 1);
    b.lines.push(e.line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  flush(): void {
    const b = this.batch;
    this.batch = undefined;
    if (!b) return;
    const msg: LogBatch = { type: "logs", stage: b.stage, text: b.lines.join("\n"), spans: b.spans };
    if (b.stepIndex !== undefined) msg.stepIndex = b.stepIndex;
    this.send(msg);
  }
}

/** git needs a name and an email; a job uid has no passwd entry. A workflow's own `git config` still wins. */
async function writeGitConfig(home: string, id: { name: string; email: string }): Promise<void> {
  try {
    const fh = await open(join(home, ".gitconfig"), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    await fh.writeFile(`[user]\n\tname = ${id.name}\n\temail = ${id.email}\n`);
    await fh.close();
  } catch {
    // already there
  }
}
