/** Read-only views of stored emulator records, as the control API returns them. */
import type { JobView, ResultName, RunnerView, StepView, StoredJob, StoredRunner, StoredTask, TaskView } from "./types.js";

const RESULT_NAMES: Record<number, ResultName> = { 1: "success", 2: "failure", 3: "cancelled", 4: "skipped" };
const RUNNING = 6;
const BLOCKED = 7;

/** Forgejo statuses 1-4 are final results; 5 waiting, 6 running, 7 blocked. */
export const isDone = (status: number): boolean => status >= 1 && status <= 4;

function isoOrUndefined(sec: number): string | undefined {
  return sec > 0 ? new Date(sec * 1000).toISOString() : undefined;
}

function toStepView(s: StoredTask["steps"][number], index: number): StepView {
  const result = RESULT_NAMES[s.result];
  return {
    index,
    name: s.name,
    status: result ?? (s.started > 0 ? "running" : "waiting"),
    result,
    logIndex: s.logIndex,
    logLength: s.logLength,
    startedAt: isoOrUndefined(s.started),
    stoppedAt: isoOrUndefined(s.stopped),
  };
}

export function toTaskView(t: StoredTask): TaskView {
  return {
    taskId: t.id,
    jobId: t.jobId,
    runnerId: t.runnerId,
    status: RESULT_NAMES[t.status] ?? "running",
    result: RESULT_NAMES[t.status],
    token: t.token,
    startedAt: isoOrUndefined(t.started),
    stoppedAt: isoOrUndefined(t.stopped),
    steps: t.steps.map(toStepView),
    outputs: { ...t.outputs },
    logRows: t.logRows.map((r) => r.content),
    logTimes: t.logRows.map((r) => r.time),
    logArchived: t.logArchived,
    deliveries: t.deliveries,
  };
}

export function toJobView(j: StoredJob, task: TaskView | undefined): JobView {
  return {
    jobId: j.id,
    runId: j.runId,
    jobKey: j.jobKey,
    name: j.name,
    handle: j.handle,
    repo: j.repo,
    runsOn: [...j.runsOn],
    attempt: j.attempt,
    status: isDone(j.status) ? "done" : j.status === RUNNING ? "running" : j.status === BLOCKED ? "blocked" : "waiting",
    result: RESULT_NAMES[j.status],
    taskId: j.taskId || undefined,
    payload: j.payload,
    steps: task?.steps ?? [],
    outputs: task?.outputs ?? {},
    logRows: task?.logRows ?? [],
    logArchived: task?.logArchived ?? false,
    task,
    enqueuedAt: j.enqueuedAt ?? 0,
    pickedAt: j.pickedAt ?? 0,
    doneAt: j.doneAt ?? 0,
  };
}

export function toRunnerView(r: StoredRunner): RunnerView {
  const now = Date.now();
  return {
    id: r.id,
    uuid: r.uuid,
    name: r.name,
    version: r.version,
    labels: [...r.labels],
    ephemeral: r.ephemeral,
    owner: r.owner,
    repo: r.repo,
    deleted: r.deleted,
    lastOnline: r.lastOnline ? new Date(r.lastOnline).toISOString() : undefined,
    lastActive: r.lastActive ? new Date(r.lastActive).toISOString() : undefined,
    status: now - r.lastOnline > 60_000 ? "offline" : now - r.lastActive > 10_000 ? "idle" : "active",
  };
}
