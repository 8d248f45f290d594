/**
 * The emulated Forgejo database and the runner-service semantics of spec §3: registration
 * tokens, runners, jobs, tasks, tasks_version counters, logs and outputs.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { EventEmitter } from "node:events";
import { create } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import {
  type DeclareRequest,
  type FetchTaskResponse,
  type RegisterRequest,
  type Runner,
  type Task,
  type UpdateLogRequest,
  type UpdateTaskRequest,
  type UpdateTaskResponse,
  Result,
  RunnerSchema,
  TaskNeedSchema,
  TaskSchema,
  UpdateTaskResponseSchema,
  TaskStateSchema,
} from "../../src/protocol/gen/runner/v1/messages_pb.js";
import { newJobs } from "./new-jobs.js";
import { type ContextSettings, buildTaskContext, isForkPullRequest, randomHex } from "./task-context.js";
import type {
  EmulatorSnapshot,
  EnqueueOptions,
  EnqueueRunOptions,
  EnqueueResult,
  JobView,
  NeedInput,
  RunnerView,
  StoredJob,
  StoredRunner,
  StoredTask,
  TaskView,
} from "./types.js";
import { isDone, toJobView, toRunnerView, toTaskView } from "./views.js";

export type RpcCode = "invalid_argument" | "unauthenticated" | "internal" | "already_exists" | "not_found" | "unimplemented";

/** An error answered to the client as a Connect error. */
export class RpcError extends Error {
  constructor(
    readonly code: RpcCode,
    message: string,
  ) {
    super(message);
  }
}

const WAITING = 5;
const RUNNING = 6;
const BLOCKED = 7;
const MAX_OUTPUT_KEY = 255;
const MAX_OUTPUT_VALUE = 1024 * 1024;

const nowSec = () => Math.floor(Date.now() / 1000);

/** AggregateJobStatus of a job's instances (all done). */
function aggregateResult(instances: StoredJob[]): NeedInput["result"] {
  const statuses = instances.map((j) => j.status);
  if (statuses.every((s) => s === 4)) return "skipped";
  if (statuses.every((s) => s === 1 || s === 4)) return "success";
  if (statuses.includes(3)) return "cancelled";
  return "failure";
}

function hashToken(token: string, salt: string): string {
  return createHash("sha256").update(salt).update(token).digest("hex");
}

function tokenMatches(token: string, salt: string, hash: string): boolean {
  const a = Buffer.from(hashToken(token, salt), "hex");
  const b = Buffer.from(hash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}

/** uuid.FromBytes([]byte(secret[:16])): the 16 ASCII characters used as raw bytes. */
export function uuidFromSecret(secret: string): string {
  const hex = Buffer.from(secret.slice(0, 16), "latin1").toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Forgejo's stored log line time format: RFC 3339 with 7 fractional digits. */
function formatLogTime(ts: Timestamp | undefined): string {
  const seconds = ts ? Number(ts.seconds) : 0;
  const nanos = ts ? ts.nanos : 0;
  const base = new Date(seconds * 1000).toISOString().slice(0, 19);
  return `${base}.${String(Math.floor(nanos / 100)).padStart(7, "0")}Z`;
}

function tsSeconds(ts: Timestamp | undefined): number {
  return ts ? Number(ts.seconds) : 0;
}


function emptySnapshot(jwtSecret: string): EmulatorSnapshot {
  return {
    version: 1,
    jwtSecret,
    nextIds: { runner: 1, job: 1, task: 101, run: 1 },
    runNumbers: {},
    userIds: {},
    repoIds: {},
    tasksVersions: {},
    registrationTokens: [],
    runners: [],
    jobs: [],
    tasks: [],
    faults: [],
  };
}

export type StateSettings = Omit<ContextSettings, "jwtSecret">;

export class EmulatorState {
  /** Emits "change" after every mutation (used by waitForJobDone). */
  readonly events = new EventEmitter();
  private readonly db: EmulatorSnapshot;

  constructor(
    private readonly settings: StateSettings,
    snapshot: EmulatorSnapshot | undefined,
    jwtSecret: string | undefined,
  ) {
    this.db = snapshot
      ? (structuredClone(snapshot) as EmulatorSnapshot)
      : emptySnapshot(jwtSecret ?? randomBytes(32).toString("hex"));
    this.events.setMaxListeners(0);
  }

  get jwtSecret(): string {
    return this.db.jwtSecret;
  }

  snapshot(faults: EmulatorSnapshot["faults"]): EmulatorSnapshot {
    return structuredClone({ ...this.db, faults });
  }

  get savedFaults(): EmulatorSnapshot["faults"] {
    return this.db.faults;
  }

  private changed(): void {
    this.events.emit("change");
  }

  private userId(name: string): number {
    this.db.userIds[name] ??= Object.keys(this.db.userIds).length + 2;
    return this.db.userIds[name]!;
  }

  private repoId(repo: string): number {
    this.db.repoIds[repo] ??= Object.keys(this.db.repoIds).length + 1;
    return this.db.repoIds[repo]!;
  }

  // ---- tasks_version ----

  private bumpVersions(keys: string[]): void {
    for (const k of keys) this.db.tasksVersions[k] = (this.db.tasksVersions[k] ?? 0) + 1;
  }

  private jobScopeKeys(job: StoredJob): string[] {
    return ["", `o:${job.repo.split("/")[0]}`, `r:${job.repo}`];
  }

  private runnerScopeKey(r: StoredRunner): string {
    return r.repo ? `r:${r.repo}` : r.owner ? `o:${r.owner}` : "";
  }

  /** IncreaseTaskVersion(runner.owner_id, runner.repo_id): global plus the runner's own scope. */
  private runnerBumpKeys(r: StoredRunner): string[] {
    const key = this.runnerScopeKey(r);
    return key === "" ? [""] : ["", key];
  }

  tasksVersion(scope?: { owner?: string; repo?: string }): number {
    const key = scope?.repo ? `r:${scope.repo}` : scope?.owner ? `o:${scope.owner}` : "";
    return this.db.tasksVersions[key] ?? 0;
  }

  // ---- registration ----

  createRegistrationToken(scope: { owner?: string; repo?: string } = {}): string {
    const owner = scope.repo ? undefined : scope.owner;
    const repo = scope.repo;
    for (const t of this.db.registrationTokens) {
      if (t.owner === owner && t.repo === repo) t.active = false;
    }
    const token = randomHex(20);
    this.db.registrationTokens.push({ token, owner, repo, active: true });
    this.changed();
    return token;
  }

  preRegisterRunner(
    secret: string,
    name: string,
    labels: string[] = [],
    scope: { owner?: string; repo?: string } = {},
  ): RunnerView {
    if (!/^[0-9a-f]{40}$/.test(secret)) throw new Error("secret must be 40 lowercase hex characters");
    const uuid = uuidFromSecret(secret);
    let runner = this.db.runners.find((r) => r.uuid === uuid && !r.deleted);
    if (!runner) {
      runner = {
        id: this.db.nextIds.runner++,
        uuid,
        tokenSalt: "",
        tokenHash: "",
        name,
        version: "",
        labels: [],
        ephemeral: false,
        lastOnline: 0,
        lastActive: 0,
        deleted: false,
      };
      this.db.runners.push(runner);
    }
    runner.tokenSalt = randomHex(8);
    runner.tokenHash = hashToken(secret, runner.tokenSalt);
    runner.name = name;
    runner.labels = [...labels];
    runner.repo = scope.repo;
    runner.owner = scope.repo ? undefined : scope.owner;
    this.changed();
    return toRunnerView(runner);
  }

  register(req: RegisterRequest): Runner {
    if (req.token === "" || req.name === "") throw new RpcError("invalid_argument", "missing runner token, name");
    const regToken = this.db.registrationTokens.find((t) => t.token === req.token);
    if (!regToken) throw new RpcError("invalid_argument", "runner registration token not found");
    if (!regToken.active) {
      throw new RpcError("invalid_argument", "runner registration token has been invalidated, please use the latest one");
    }
    const token = randomHex(20);
    const salt = randomHex(8);
    const runner: StoredRunner = {
      id: this.db.nextIds.runner++,
      uuid: randomUUID(),
      tokenSalt: salt,
      tokenHash: hashToken(token, salt),
      name: Buffer.from(req.name).subarray(0, 255).toString("utf8"),
      version: req.version,
      labels: [...req.labels],
      ephemeral: req.ephemeral,
      owner: regToken.owner,
      repo: regToken.repo,
      lastOnline: 0,
      lastActive: 0,
      deleted: false,
    };
    this.db.runners.push(runner);
    this.changed();
    return create(RunnerSchema, {
      id: BigInt(runner.id),
      uuid: runner.uuid,
      token,
      name: runner.name,
      version: runner.version,
      labels: runner.labels,
      ephemeral: runner.ephemeral,
    });
  }

  /** The auth interceptor. */
  authenticate(uuid: string, token: string, method: string): StoredRunner {
    const runner = this.db.runners.find((r) => r.uuid === uuid && !r.deleted);
    if (!runner || !tokenMatches(token, runner.tokenSalt, runner.tokenHash)) {
      throw new RpcError("unauthenticated", "unregistered runner");
    }
    const now = Date.now();
    runner.lastOnline = now;
    if (method === "UpdateTask" || method === "UpdateLog") runner.lastActive = now;
    return runner;
  }

  declare(runner: StoredRunner, req: DeclareRequest): Runner {
    runner.labels = [...req.labels];
    runner.version = req.version;
    this.changed();
    return create(RunnerSchema, {
      id: BigInt(runner.id),
      uuid: runner.uuid,
      name: runner.name,
      version: runner.version,
      labels: runner.labels,
      ephemeral: runner.ephemeral,
    });
  }

  // ---- jobs ----

  enqueue(opts: EnqueueOptions): EnqueueResult {
    return this.addJobs(opts, false);
  }

  /** Every job of the workflow as one run; jobs with `needs:` wait until those are done. */
  enqueueRun(opts: EnqueueRunOptions): EnqueueResult {
    return this.addJobs(opts, true);
  }

  private addJobs(opts: EnqueueOptions, wholeRun: boolean): EnqueueResult {
    const { jobs, runId } = newJobs(opts, {
      appUrl: this.settings.appUrl,
      nextJobId: () => this.db.nextIds.job++,
      newRun: (repo) => {
        this.db.runNumbers[repo] = (this.db.runNumbers[repo] ?? 0) + 1;
        return { runId: this.db.nextIds.run++, runNumber: this.db.runNumbers[repo]! };
      },
      userId: (name) => this.userId(name),
      repoId: (repo) => this.repoId(repo),
    }, wholeRun);
    for (const job of jobs) {
      this.db.jobs.push(job);
      if (job.status === WAITING) this.bumpVersions(this.jobScopeKeys(job));
    }
    this.changed();
    return { jobId: jobs[0]!.id, jobIds: jobs.map((j) => j.id), runId };
  }

  private job(id: number): StoredJob | undefined {
    return this.db.jobs.find((j) => j.id === id);
  }

  private task(id: number): StoredTask | undefined {
    return this.db.tasks.find((t) => t.id === id);
  }

  /** Forgejo's StopTask: a running task ends with `status`; the job follows. */
  private stopTask(task: StoredTask, status: number, archive: boolean): void {
    task.status = status;
    task.stopped = nowSec();
    task.updated = Date.now();
    if (archive) task.logArchived = true;
    for (const s of task.steps) {
      if (!isDone(s.result)) {
        s.result = status;
        if (s.started === 0) s.started = task.stopped;
        s.stopped = task.stopped;
      }
    }
    const job = this.job(task.jobId);
    if (job) {
      job.status = status;
      job.updated = Date.now();
      job.doneAt = job.updated;
      this.emitReadyJobs(job.runId);
    }
    const runner = this.db.runners.find((r) => r.id === task.runnerId);
    if (runner?.ephemeral) runner.deleted = true;
  }

  /** User cancel: a waiting job is cancelled; a running task is stopped (next UpdateTask answers CANCELLED). */
  cancel(jobId: number): void {
    const job = this.job(jobId);
    if (!job) throw new Error(`no job ${jobId}`);
    if (isDone(job.status)) return;
    const task = job.taskId ? this.task(job.taskId) : undefined;
    if (task && task.status === RUNNING) this.stopTask(task, 3, false);
    else {
      job.status = 3;
      job.updated = Date.now();
      job.doneAt = job.updated;
      this.emitReadyJobs(job.runId);
    }
    this.changed();
  }

  /**
   * Forgejo's job emitter: a blocked job whose needs are all done becomes waiting (with
   * Task.needs filled in) if they all succeeded or it has an `if:`, else it is skipped.
   */
  private emitReadyJobs(runId: number): void {
    const run = this.db.jobs.filter((j) => j.runId === runId);
    let changed = true;
    while (changed) {
      changed = false;
      for (const job of run.filter((j) => j.status === BLOCKED)) {
        const needed = (job.needsJobs ?? []).map((key) => run.filter((j) => j.jobKey === key));
        if (!needed.every((instances) => instances.every((j) => isDone(j.status)))) continue;
        const needs: StoredJob["needs"] = {};
        (job.needsJobs ?? []).forEach((key, i) => {
          needs[key] = { result: aggregateResult(needed[i]!), outputs: this.mergedOutputs(needed[i]!) };
        });
        const allSucceeded = Object.values(needs).every((n) => n.result === "success");
        job.updated = Date.now();
        if (allSucceeded || (job.ifCondition ?? "") !== "") {
          job.status = WAITING;
          job.needs = needs;
          job.enqueuedAt = job.updated;
          this.bumpVersions(this.jobScopeKeys(job));
        } else {
          job.status = 4;
          job.doneAt = job.updated;
        }
        changed = true;
      }
    }
  }

  /** Outputs of a job's instances (matrix), a non-empty value winning. */
  private mergedOutputs(instances: StoredJob[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const j of instances) {
      const t = j.taskId ? this.task(j.taskId) : undefined;
      for (const [k, v] of Object.entries(t?.outputs ?? {})) if (!out[k]) out[k] = v;
    }
    return out;
  }

  /** Re-run of a finished job: a new attempt waits for a runner (new handle, run_attempt + 1). */
  rerun(jobId: number): void {
    const job = this.job(jobId);
    if (!job) throw new Error(`no job ${jobId}`);
    if (!isDone(job.status)) throw new Error(`job ${jobId} is not done`);
    job.attempt++;
    job.status = WAITING;
    job.taskId = 0;
    job.handle = randomUUID();
    job.updated = Date.now();
    job.enqueuedAt = job.updated;
    job.pickedAt = 0;
    job.doneAt = 0;
    this.bumpVersions(this.jobScopeKeys(job));
    this.changed();
  }

  /** Zombie/endless cleanup: the task is stopped as failure and its log archived. */
  zombie(taskId: number): void {
    const task = this.task(taskId);
    if (!task) throw new Error(`no task ${taskId}`);
    if (task.status !== RUNNING) return;
    this.stopTask(task, 2, true);
    this.changed();
  }

  /** Stops every running task not updated for `timeoutMs`; returns their ids. */
  reapZombies(timeoutMs: number): number[] {
    const limit = Date.now() - timeoutMs;
    const ids = this.db.tasks.filter((t) => t.status === RUNNING && t.updated < limit).map((t) => t.id);
    for (const id of ids) this.zombie(id);
    return ids;
  }

  isTaskTokenValid(token: string): boolean {
    return this.db.tasks.some((t) => t.status === RUNNING && t.token.length === token.length && t.token === token);
  }

  /** The running task a task token belongs to. */
  taskByToken(token: string): TaskView | undefined {
    const t = this.db.tasks.find((x) => x.status === RUNNING && x.token === token);
    return t ? this.taskView(t.id) : undefined;
  }

  // ---- FetchTask / FetchSingleTask ----

  private inScope(runner: StoredRunner, job: StoredJob): boolean {
    if (runner.repo) return job.repo === runner.repo;
    if (runner.owner) return job.repo.split("/")[0] === runner.owner;
    return true;
  }

  private runsOn(runner: StoredRunner, job: StoredJob): boolean {
    if (runner.labels.length === 0 || job.runsOn.length === 0) return false;
    const have = new Set(runner.labels);
    return job.runsOn.every((l) => have.has(l));
  }

  private pick(runner: StoredRunner, handle: string | undefined, requestKey: string): StoredTask | undefined {
    if (runner.ephemeral && this.db.tasks.some((t) => t.runnerId === runner.id)) return undefined;
    const candidates = this.db.jobs
      .filter((j) => j.status === WAITING && j.taskId === 0 && this.inScope(runner, j))
      .sort((a, b) => b.priority - a.priority || a.updated - b.updated || a.id - b.id);
    const job = candidates.find((j) => (!handle || j.handle === handle) && this.runsOn(runner, j));
    if (!job) return undefined;
    const token = randomHex(20);
    const task: StoredTask = {
      id: this.db.nextIds.task++,
      jobId: job.id,
      runnerId: runner.id,
      tokenHash: hashToken(token, String(job.id)),
      token,
      requestKey,
      status: RUNNING,
      started: nowSec(),
      stopped: 0,
      updated: Date.now(),
      steps: job.stepNames.map((name) => ({ name, result: 0, logIndex: 0, logLength: 0, started: 0, stopped: 0 })),
      outputs: {},
      logRows: [],
      logArchived: false,
      deliveries: 1,
    };
    job.status = RUNNING;
    job.taskId = task.id;
    job.updated = Date.now();
    job.pickedAt = job.updated;
    this.db.tasks.push(task);
    return task;
  }

  private taskMessage(task: StoredTask): Task {
    const job = this.job(task.jobId)!;
    const owner = job.repo.split("/")[0]!;
    const ids = { ownerId: this.userId(owner), repoId: this.repoId(job.repo), actorId: this.userId(job.actor) };
    const context = buildTaskContext({ ...this.settings, jwtSecret: this.db.jwtSecret }, job, ids, task);
    const secrets: Record<string, string> = isForkPullRequest(job) ? {} : { ...job.secrets };
    secrets.GITHUB_TOKEN = task.token;
    secrets.GITEA_TOKEN = task.token;
    secrets.FORGEJO_TOKEN = task.token;
    const needs: Task["needs"] = {};
    for (const [k, n] of Object.entries(job.needs)) {
      const result = { success: Result.SUCCESS, failure: Result.FAILURE, cancelled: Result.CANCELLED, skipped: Result.SKIPPED }[n.result];
      needs[k] = create(TaskNeedSchema, { result, outputs: n.outputs ?? {} });
    }
    return create(TaskSchema, {
      id: BigInt(task.id),
      workflowPayload: new TextEncoder().encode(job.payload),
      context: context as Task["context"],
      secrets,
      needs,
      vars: { ...job.vars },
    });
  }

  private newTaskToken(task: StoredTask): void {
    task.token = randomHex(20);
    task.tokenHash = hashToken(task.token, String(task.jobId));
    task.deliveries++;
  }

  fetch(
    runner: StoredRunner,
    opts: { tasksVersion: bigint; capacity: number; requestKey: string; handle?: string; single: boolean },
  ): { tasks: Task[]; tasksVersion: bigint } {
    if (opts.requestKey) {
      const previous = this.db.tasks.filter((t) => t.runnerId === runner.id && t.requestKey === opts.requestKey);
      if (previous.length > 0) {
        if (opts.single && previous.length > 1) {
          throw new RpcError("internal", `cannot recover ${previous.length} tasks because runner requested only one`);
        }
        for (const t of previous) this.newTaskToken(t);
        this.changed();
        return { tasks: previous.map((t) => this.taskMessage(t)), tasksVersion: 0n };
      }
    }
    const scopeKey = this.runnerScopeKey(runner);
    let latest = this.db.tasksVersions[scopeKey] ?? 0;
    if (latest === 0) {
      this.bumpVersions(this.runnerBumpKeys(runner));
      latest = this.db.tasksVersions[scopeKey]!;
    }
    const tasks: StoredTask[] = [];
    if (opts.tasksVersion !== BigInt(latest)) {
      const capacity = opts.single ? 1 : Math.max(1, opts.capacity);
      for (let i = 0; i < capacity; i++) {
        const t = this.pick(runner, opts.single ? opts.handle : undefined, opts.requestKey);
        if (!t) break;
        tasks.push(t);
      }
    }
    if (tasks.length) this.changed();
    return { tasks: tasks.map((t) => this.taskMessage(t)), tasksVersion: BigInt(latest) };
  }

  fetchResponse(r: { tasks: Task[]; tasksVersion: bigint }): Pick<FetchTaskResponse, "task" | "tasksVersion" | "additionalTasks"> {
    return { task: r.tasks[0], tasksVersion: r.tasksVersion, additionalTasks: r.tasks.slice(1) };
  }

  // ---- UpdateTask / UpdateLog ----

  updateTask(runner: StoredRunner, req: UpdateTaskRequest): UpdateTaskResponse {
    const state = req.state;
    if (!state) throw new RpcError("internal", "update task: state is missing");
    const task = this.task(Number(state.id));
    if (!task) throw new RpcError("internal", `update task: task with id ${state.id}: resource does not exist`);
    if (task.runnerId !== runner.id) throw new RpcError("internal", "update task: invalid runner for task");
    const final = state.result !== Result.UNSPECIFIED;

    // UpdateTaskByState: a done task (finished, cancelled, zombie) no longer changes.
    if (!isDone(task.status)) {
      const job = this.job(task.jobId)!;
      task.updated = Date.now();
      if (final) {
        task.status = state.result;
        task.stopped = tsSeconds(state.stoppedAt);
        job.status = state.result;
        job.updated = Date.now();
        job.doneAt = job.updated;
      }

      for (let i = 0; i < task.steps.length; i++) {
        const s = state.steps.find((x) => x.id === BigInt(i));
        if (!s) continue;
        const row = task.steps[i]!;
        row.result = s.result;
        row.logIndex = Number(s.logIndex);
        row.logLength = Number(s.logLength);
        row.started = tsSeconds(s.startedAt);
        row.stopped = tsSeconds(s.stoppedAt);
      }
    }

    // Outputs are accepted whatever the task's state.
    for (const [key, value] of Object.entries(req.outputs)) {
      if (Buffer.byteLength(key) > MAX_OUTPUT_KEY || Buffer.byteLength(value) > MAX_OUTPUT_VALUE) continue;
      if (!(key in task.outputs)) task.outputs[key] = value;
    }

    // Keyed on the request's result, not on whether this call finished the task; after the
    // outputs are stored, so dependent jobs see them.
    if (final) {
      this.emitReadyJobs(this.job(task.jobId)!.runId);
      this.bumpVersions(this.runnerBumpKeys(runner));
      if (runner.ephemeral) runner.deleted = true;
    }
    this.changed();
    return create(UpdateTaskResponseSchema, {
      state: create(TaskStateSchema, { id: state.id, result: isDone(task.status) ? task.status : Result.UNSPECIFIED }),
      sentOutputs: Object.keys(task.outputs),
    });
  }

  updateLog(runner: StoredRunner, req: UpdateLogRequest): bigint {
    const task = this.task(Number(req.taskId));
    if (!task) throw new RpcError("internal", `get task: task with id ${req.taskId}: resource does not exist`);
    if (task.runnerId !== runner.id) throw new RpcError("internal", "invalid runner for task");
    const ack = task.logRows.length;
    const index = Number(req.index);
    if (req.rows.length === 0 || index > ack || index + req.rows.length <= ack) return BigInt(ack);
    if (task.logArchived) throw new RpcError("already_exists", "log file has been archived");
    for (const row of req.rows.slice(ack - index)) {
      task.logRows.push({ time: formatLogTime(row.time), content: row.content });
    }
    if (req.noMore) task.logArchived = true;
    this.changed();
    return BigInt(task.logRows.length);
  }

  // ---- views ----

  taskView(taskId: number): TaskView | undefined {
    const t = this.task(taskId);
    return t ? toTaskView(t) : undefined;
  }

  /** Whether the job is done, without copying its log (checked after every change while logs stream in). */
  jobDone(jobId: number): boolean | undefined {
    const j = this.job(jobId);
    return j ? isDone(j.status) : undefined;
  }

  jobView(jobId: number): JobView | undefined {
    const j = this.job(jobId);
    if (!j) return undefined;
    const t = j.taskId ? this.task(j.taskId) : undefined;
    return toJobView(j, t ? toTaskView(t) : undefined);
  }

  jobIds(): number[] {
    return this.db.jobs.map((j) => j.id);
  }

  runners(): RunnerView[] {
    return this.db.runners.map(toRunnerView);
  }
}
