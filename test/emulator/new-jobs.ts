/**
 * Turns enqueue options into jobs: payloads (one per matrix combination), event, ref, needs.
 * One job waiting for a runner, or a whole run whose jobs with `needs:` start blocked.
 */
import { randomUUID } from "node:crypto";
import { type JobPayload, buildJobPayload, listJobs, matrixCombinations, rawPayload } from "./job-payload.js";
import { randomHex, refAndShaFromEvent, syntheticPushPayload } from "./task-context.js";
import type { EnqueueOptions, StoredJob } from "./types.js";

const WAITING = 5;
const BLOCKED = 7;

export interface JobAllocator {
  appUrl: string;
  nextJobId(): number;
  newRun(repo: string): { runId: number; runNumber: number };
  userId(name: string): number;
  repoId(repo: string): number;
}

function payloadsOf(opts: EnqueueOptions, wholeRun: boolean): JobPayload[] {
  let payloads: JobPayload[];
  if (wholeRun) {
    if (opts.workflow === undefined) throw new Error("enqueueRun needs a workflow");
    const workflow = opts.workflow;
    payloads = listJobs(workflow).flatMap((jobKey) => {
      const combos = matrixCombinations(workflow, jobKey);
      return (combos.length ? combos : [undefined]).map((m) => buildJobPayload(workflow, jobKey, m));
    });
  } else if (opts.payload !== undefined) {
    payloads = [rawPayload(opts.payload, opts.job ?? "job")];
  } else {
    if (opts.workflow === undefined) throw new Error("enqueue needs a workflow or a payload");
    const workflow = opts.workflow;
    const jobKey = opts.job ?? listJobs(workflow)[0]!;
    const combos = opts.matrix ? [opts.matrix] : matrixCombinations(workflow, jobKey);
    payloads = (combos.length ? combos : [undefined]).map((m) => buildJobPayload(workflow, jobKey, m));
  }
  if (opts.runsOn) for (const p of payloads) p.runsOn = [...opts.runsOn];
  return payloads;
}

export function newJobs(
  opts: EnqueueOptions,
  alloc: JobAllocator,
  wholeRun = false,
): { jobs: StoredJob[]; runId: number } {
  const payloads = payloadsOf(opts, wholeRun);
  const repo = opts.repo ?? "alice/webapp";
  if (!/^[^/]+\/[^/]+$/.test(repo)) throw new Error(`repo must be owner/name, got "${repo}"`);
  const owner = repo.split("/")[0]!;
  const actor = opts.actor ?? "alice";
  const event = opts.event ?? "push";
  const { runId, runNumber } = alloc.newRun(repo);
  const ids = { ownerId: alloc.userId(owner), repoId: alloc.repoId(repo) };
  const fromEvent = opts.eventPayload ? refAndShaFromEvent(event, opts.eventPayload) : {};
  const ref = opts.ref ?? fromEvent.ref ?? "refs/heads/main";
  const sha = opts.sha ?? fromEvent.sha ?? randomHex(20);
  const eventPayload =
    opts.eventPayload ??
    syntheticPushPayload({ appUrl: alloc.appUrl, repo, ids, actor, actorId: alloc.userId(actor), ref, sha });

  const jobs = payloads.map((p): StoredJob => {
    // Every needed job is a key of Task.needs. A single job gets them from the options (those
    // not given count as succeeded); in a whole run they are filled in when the job unblocks.
    const needs = wholeRun ? {} : { ...(opts.needs ?? {}) };
    if (!wholeRun) for (const n of p.needs) needs[n] ??= { result: "success" };
    const blocked = wholeRun && p.needs.length > 0;
    const now = Date.now();
    return {
      id: alloc.nextJobId(),
      runId,
      runNumber,
      attempt: 1,
      jobKey: p.jobKey,
      name: p.name,
      handle: randomUUID(),
      repo,
      payload: p.yaml,
      runsOn: p.runsOn,
      stepNames: p.stepNames,
      status: blocked ? BLOCKED : WAITING,
      taskId: 0,
      priority: opts.priority ?? 0,
      updated: now,
      event,
      eventPayload,
      contextOverrides: opts.context ?? {},
      workflowFile: opts.workflowFile ?? "ci.yml",
      ref,
      sha,
      actor,
      secrets: opts.secrets ?? {},
      vars: opts.vars ?? {},
      needs,
      needsJobs: p.needs,
      ifCondition: p.ifCondition,
      enqueuedAt: now,
      pickedAt: 0,
      doneAt: 0,
    };
  });
  return { jobs, runId };
}
