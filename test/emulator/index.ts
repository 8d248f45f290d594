/** Front door of the Forgejo emulator: a real HTTP server speaking Forgejo's runner API. */
import { type Server, createServer } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { API_PREFIX, type RequestRecord, handleConnect } from "./connect-server.js";
import { CONTROL_PREFIX, handleControl } from "./control-http.js";
import { FaultSet } from "./faults.js";
import { EmulatorState, uuidFromSecret } from "./state.js";
import { type RuntimeClaims, verifyRuntimeToken } from "./task-context.js";
import { TEST_TLS_CERT, TEST_TLS_KEY } from "./tls-fixture.js";
import type {
  EmulatorSnapshot,
  EnqueueOptions,
  EnqueueResult,
  EnqueueRunOptions,
  FaultRule,
  JobView,
  RunnerView,
  StartOptions,
  TaskView,
} from "./types.js";

export type * from "./types.js";
export type { RequestRecord } from "./connect-server.js";
export type { RuntimeClaims } from "./task-context.js";
export { uuidFromSecret };
/** The certificate `tls: true` serves (trust it with `ca`, or skip verification). */
export { TEST_TLS_CERT };

const MAX_RECORDS = 5000;

export class Emulator {
  /** Forgejo root URL with trailing slash, e.g. http://127.0.0.1:PORT/ */
  readonly url: string;
  readonly port: number;
  readonly faults: Pick<FaultSet, "add" | "clear" | "list" | "fired">;
  private readonly records: RequestRecord[] = [];
  private zombieTimer: NodeJS.Timeout | undefined;

  /** @internal use startEmulator() */
  constructor(
    private readonly server: Server,
    private readonly state: EmulatorState,
    faults: FaultSet,
    url: string,
    port: number,
  ) {
    this.faults = faults;
    this.url = url;
    this.port = port;
  }

  /** @internal */
  record(r: RequestRecord): void {
    this.records.push(r);
    if (this.records.length > MAX_RECORDS) this.records.splice(0, this.records.length - MAX_RECORDS);
  }

  /** @internal */
  startZombieReaper(timeoutMs: number): void {
    this.zombieTimer = setInterval(() => this.state.reapZombies(timeoutMs), Math.min(1000, Math.max(50, timeoutMs / 2)));
    this.zombieTimer.unref();
  }

  /** New registration token for a scope; older tokens of the same scope stop working. */
  createRegistrationToken(scope?: { owner?: string; repo?: string }): string {
    return this.state.createRegistrationToken(scope);
  }

  /** `forgejo-cli actions register --secret`: runner token = secret, uuid derived from it. */
  preRegisterRunner(secret: string, name: string, labels?: string[], scope?: { owner?: string; repo?: string }): RunnerView {
    return this.state.preRegisterRunner(secret, name, labels, scope);
  }

  enqueue(opts: EnqueueOptions): EnqueueResult {
    return this.state.enqueue(opts);
  }

  /** Every job of a workflow as one run: jobs with `needs:` stay blocked until those are done, then get their results and outputs (or are skipped after a failure unless they have an `if:`). */
  enqueueRun(opts: EnqueueRunOptions): EnqueueResult {
    return this.state.enqueueRun(opts);
  }

  /** Resolves with every job of the run once all are done. */
  waitForRunDone(runId: number, timeoutMs = 30_000): Promise<JobView[]> {
    const run = () => this.jobs().filter((j) => j.runId === runId);
    return this.waitFor(
      () => {
        const jobs = run();
        if (jobs.length === 0) throw new Error(`no run ${runId}`);
        return jobs.every((j) => j.status === "done") ? jobs : undefined;
      },
      timeoutMs,
      () => `run ${runId} not done after ${timeoutMs} ms: ${run().map((j) => `${j.name}=${j.status}`).join(", ")}`,
    );
  }

  /** User cancel of a job: its running task answers RESULT_CANCELLED on the next UpdateTask. */
  cancel(jobId: number): void {
    this.state.cancel(jobId);
  }

  /** Re-run of a finished job: attempt + 1, new handle, waiting again (its earlier tasks stay). */
  rerun(jobId: number): void {
    this.state.rerun(jobId);
  }

  /** Zombie cleanup of a running task: stopped as failure, log archived. */
  zombie(taskId: number): void {
    this.state.zombie(taskId);
  }

  job(jobId: number): JobView | undefined {
    return this.state.jobView(jobId);
  }

  jobs(): JobView[] {
    return this.state.jobIds().map((id) => this.state.jobView(id)!);
  }

  task(taskId: number): TaskView | undefined {
    return this.state.taskView(taskId);
  }

  runners(): RunnerView[] {
    return this.state.runners();
  }

  /** Current tasks_version of a scope (instance when no scope). */
  tasksVersion(scope?: { owner?: string; repo?: string }): number {
    return this.state.tasksVersion(scope);
  }

  /** True only while the task holding this token is running (Forgejo's GetRunningTaskByToken). */
  isTaskTokenValid(token: string): boolean {
    return this.state.isTaskTokenValid(token);
  }

  /** Claims of a runtime JWT (ACTIONS_RUNTIME_TOKEN) issued by this emulator, if valid. */
  verifyRuntimeToken(token: string): RuntimeClaims | undefined {
    return verifyRuntimeToken(this.state.jwtSecret, token);
  }

  /** RPC requests received so far (most recent last, capped). */
  requests(): RequestRecord[] {
    return this.records.map((r) => ({ ...r }));
  }

  /** Resolves with the job once it is done (final UpdateTask, cancel or zombie). */
  waitForJobDone(jobId: number, timeoutMs = 30_000): Promise<JobView> {
    return this.waitFor(() => {
      const done = this.state.jobDone(jobId);
      if (done === undefined) throw new Error(`no job ${jobId}`);
      return done ? this.state.jobView(jobId) : undefined;
    }, timeoutMs, () => `job ${jobId} not done after ${timeoutMs} ms (status ${this.state.jobView(jobId)?.status})`);
  }

  /** Resolves with the first non-undefined value of `check`, re-evaluated after every state change. */
  waitFor<T>(check: () => T | undefined, timeoutMs = 30_000, describe?: () => string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onChange = () => {
        let v: T | undefined;
        try {
          v = check();
        } catch (err) {
          done();
          reject(err as Error);
          return;
        }
        if (v !== undefined) {
          done();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(describe ? describe() : `condition not met after ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.state.events.off("change", onChange);
      };
      this.state.events.on("change", onChange);
      onChange();
    });
  }

  /** Everything needed to restart with the same state (JSON-serialisable). */
  snapshot(): EmulatorSnapshot {
    return this.state.snapshot(this.faults.list());
  }

  async stop(): Promise<void> {
    if (this.zombieTimer) clearInterval(this.zombieTimer);
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

export async function startEmulator(opts: StartOptions = {}): Promise<Emulator> {
  const host = opts.host ?? "127.0.0.1";
  const tls = opts.tls === true ? { cert: TEST_TLS_CERT, key: TEST_TLS_KEY } : opts.tls || undefined;
  const server: Server = tls ? createTlsServer({ cert: tls.cert, key: tls.key }) : createServer();
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "[::1]" : host.includes(":") ? `[${host}]` : host;
  const url = `${tls ? "https" : "http"}://${urlHost}:${port}/`;
  const state = new EmulatorState(
    {
      appUrl: url,
      defaultActionsUrl: (opts.defaultActionsUrl ?? "https://data.forgejo.org").replace(/\/+$/, ""),
      actionsUrlKeys: opts.actionsUrlKeys ?? "both",
      serverVersion: opts.serverVersion ?? "15.0.1+gitea-1.22.0",
      ...(opts.contextJob ? { contextJob: opts.contextJob } : {}),
    },
    opts.state,
    opts.jwtSecret,
  );
  const faults = new FaultSet(opts.state?.faults ?? []);
  const emulator = new Emulator(server, state, faults, url, port);
  const rpcOptions = {
    state,
    faults,
    legacyErrors: opts.legacyErrors ?? false,
    features: {
      declare: opts.features?.declare ?? true,
      fetchSingleTask: opts.features?.fetchSingleTask ?? true,
      taskCapacity: opts.features?.taskCapacity ?? true,
      requestKey: opts.features?.requestKey ?? true,
    },
    compressMinBytes: opts.compressMinBytes ?? 1024,
    record: (r: RequestRecord) => emulator.record(r),
  };
  server.on("request", (req, res) => {
    const path = req.url ?? "/";
    const handler = path.startsWith(API_PREFIX)
      ? handleConnect(req, res, rpcOptions)
      : path.startsWith(CONTROL_PREFIX)
        ? handleControl(req, res, emulator)
        : Promise.resolve().then(() => {
            res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
            res.end("404 page not found\n");
          });
    handler.catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
        res.end(`emulator error: ${(err as Error).message}\n`);
      } else {
        res.destroy();
      }
    });
  });
  if (opts.zombieTimeoutMs) emulator.startZombieReaper(opts.zombieTimeoutMs);
  return emulator;
}

export type { FaultRule };
