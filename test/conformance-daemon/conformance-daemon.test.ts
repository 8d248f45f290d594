// The workflow conformance corpus (test/conformance/cases) run through the
// daemon: one Forgejo emulator, one daemon, every case enqueued as a whole run
// (one per triggered workflow file) and judged by what Forgejo stores: job
// results and outputs, step results, log rows. README.md lists how Forgejo
// differs from `exec` and what the harness does about each difference.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { JobView } from "../emulator/index.js";
import { adaptWorkflow, readProbe, type AdaptedWorkflow, type ProbeResult } from "./adapt.js";
import {
  caseNames,
  dispatchInputs,
  loadCase,
  type CaseExpect,
  type CasePlan,
  type JobExpect,
  type LineMatcher,
  type LogExpect,
  type WorkflowFile,
} from "./cases.js";
import { startSetup } from "./forge.js";

const CAPACITY = Number(process.env.CONFORMANCE_DAEMON_CAPACITY ?? 4);
/** The real CLI (`native-runner daemon`, host backend from config) unless CONFORMANCE_DAEMON_INPROCESS=1 (startDaemon + PlainBackend). */
const CLI = process.env.CONFORMANCE_DAEMON_INPROCESS !== "1";
const RUN_TIMEOUT_MS = 180_000;
// Every case is enqueued at once, so on a loaded machine the last runs wait
// long before a slot frees: a run fails only when the whole daemon makes no
// progress for RUN_TIMEOUT_MS (or after RUN_CEILING_MS in all).
const RUN_CEILING_MS = 30 * 60_000;

/**
 * Cases where the daemon disagrees with the expectation and the runner is at
 * fault: run as node:test `todo` (reported, not failing). Reason = what differs.
 */
const TODO: Record<string, string> = {};

/**
 * Expectations that differ on Forgejo for reasons of the server, not the
 * runner (README.md): applied to a copy of expected.json before comparing.
 */
const FORGEJO_EXPECTATIONS: Record<string, { why: string; patch: (exp: CaseExpect) => void }> = {
  "matrix-names": {
    why: "the payload carries one matrix combination, so strategy.job-index is 0 and strategy.job-total 1 in every instance",
    patch: (exp) => {
      exp.jobs!["build (18, linux)"]!.outputs = { idx: "0/1/true/18-linux" };
      exp.jobs!["build (20, linux)"]!.outputs = { idx: "0/1/true/20-linux" };
    },
  },
  "matrix-include-only": {
    why: "the payload carries one matrix combination, so strategy.job-total is 1 in every instance",
    patch: (exp) => {
      exp.jobs!["j (1)"]!.log = { contains: [{ line: "a=1 b= total=1" }] };
      exp.jobs!["j (2, x)"]!.log = { contains: [{ line: "a=2 b=x total=1" }] };
    },
  },
  "failure-ancestors": {
    why: "a task carries the results of its direct needs only, so failure() in c sees b's success: c is skipped and d runs (docs/compatibility.md)",
    patch: (exp) => {
      exp.jobs!.c = { result: "skipped" };
      exp.jobs!.d = { result: "success" };
    },
  },
  "outputs-from-failed-step": {
    why: "outputs of a failed job are not sent (forgejo-runner sends outputs on success only), so needs.a.outputs is empty in job b",
    patch: (exp) => {
      exp.jobs!.b!.outputs = { partial: "" };
    },
  },
};

type Obj = Record<string, unknown>;

interface RunJob {
  view: JobView;
  wf: WorkflowFile;
  adapted: AdaptedWorkflow;
}

interface CaseRun {
  jobs: RunJob[];
}

const setup = await startSetup({ capacity: CAPACITY, cli: CLI });
after(async () => {
  await setup.close();
});
const emu = setup.forge.emu;

function eventPayloadFor(plan: CasePlan, w: WorkflowFile, repo: string): Obj | undefined {
  if (plan.args.eventFile) return JSON.parse(fs.readFileSync(path.join(plan.dir, plan.args.eventFile), "utf8")) as Obj;
  if (plan.event === "workflow_dispatch") {
    const [owner, name] = repo.split("/") as [string, string];
    return {
      inputs: dispatchInputs(plan, w),
      ref: "refs/heads/main",
      repository: { full_name: repo, name, owner: { login: owner, username: owner }, default_branch: "main" },
      sender: { login: "alice", username: "alice" },
      workflow: `.forgejo/workflows/${w.file}`,
    };
  }
  return undefined;
}

/** Probe every job of a case whose expectation looks at steps (outputs, outcome, conclusion). */
function wantsProbe(exp: CaseExpect): boolean {
  return Object.values(exp.jobs ?? {}).some((je) => Object.keys(je.steps ?? {}).length > 0) || JSON.stringify(exp).includes("${WORKSPACE}");
}

async function runCase(plan: CasePlan): Promise<CaseRun> {
  const repo = `local/${plan.name}`;
  const sha = plan.checkout ? await setup.publish(repo, plan.files, plan.executable) : undefined;
  const probe = wantsProbe(plan.exp);
  const started = plan.workflows.map((wf) => {
    const adapted = adaptWorkflow(wf.text, { checkout: plan.checkout, probeJobs: () => probe, continueOnError: plan.continueOnError });
    const { runId, jobIds } = emu.enqueueRun({
      workflow: adapted.text,
      workflowFile: wf.file,
      repo,
      event: plan.event,
      eventPayload: eventPayloadFor(plan, wf, repo),
      context: setup.forge.context,
      secrets: plan.args.secrets,
      vars: plan.args.vars,
      ref: "refs/heads/main",
      ...(sha ? { sha } : {}),
    });
    return { runId, jobIds, wf, adapted };
  });
  const jobs: RunJob[] = [];
  for (const s of started) {
    const runJobs = (): JobView[] => s.jobIds.map((id) => emu.job(id)!);
    const failFast = plan.failFast ? emulateFailFast(runJobs, s.wf) : Promise.resolve();
    failFast.catch(() => undefined);
    await Promise.race([waitForRunProgressing(s.runId), setup.died]);
    await failFast;
    // A cancelled task is done on the server at once; its last rows (cancel handlers) follow.
    const views = await Promise.race([
      emu.waitFor(
        () => {
          const run = runJobs();
          return run.every((j) => !j.taskId || j.logArchived) ? run : undefined;
        },
        60_000,
        () => `the log of a job of run ${s.runId} is never closed (no UpdateLog with no_more)`,
      ),
      setup.died,
    ]);
    for (const view of views) jobs.push({ view, wf: s.wf, adapted: s.adapted });
  }
  return { jobs };
}

/**
 * GitHub's fail-fast, which Forgejo does not implement: once an instance of a
 * matrix job (fail-fast not false) fails, each sibling is cancelled through the
 * server once a step of it runs (as a user cancelling it on Forgejo).
 */
async function emulateFailFast(runJobs: () => JobView[], wf: WorkflowFile): Promise<void> {
  const wfJobs = (wf.doc.jobs ?? {}) as Record<string, Obj>;
  const failFast = (key: string) => {
    const st = (wfJobs[key]?.strategy ?? {}) as Obj;
    return st.matrix !== undefined && st["fail-fast"] !== false;
  };
  const cancelled = new Set<number>();
  await emu.waitFor(
    () => {
      const run = runJobs();
      for (const failed of run.filter((j) => j.result === "failure" && failFast(j.jobKey))) {
        // Once a step runs: the cancel must find work in progress, not a job still setting up.
        const inProgress = (j: JobView) => j.status === "running" && j.steps.some((st) => st.status === "running");
        for (const sib of run.filter((j) => j.jobKey === failed.jobKey && inProgress(j) && !cancelled.has(j.jobId))) {
          cancelled.add(sib.jobId);
          emu.cancel(sib.jobId);
        }
      }
      return run.every((j) => j.status === "done") ? true : undefined;
    },
    RUN_TIMEOUT_MS,
  );
}

/** The emulator's done jobs: grows while the daemon makes progress on any run. */
function doneCount(): number {
  return emu.jobs().filter((j) => j.status === "done").length;
}

async function waitForRunProgressing(runId: number): Promise<void> {
  const start = Date.now();
  let mark = doneCount();
  for (;;) {
    try {
      await emu.waitForRunDone(runId, RUN_TIMEOUT_MS);
      return;
    } catch (err) {
      const now = doneCount();
      if (now === mark || Date.now() - start > RUN_CEILING_MS) throw err;
      mark = now;
    }
  }
}

// ---- expectations ----

function hashFiles(dir: string, files: string[]): string {
  if (files.length === 0) return "";
  const outer = createHash("sha256");
  for (const f of files) outer.update(createHash("sha256").update(fs.readFileSync(path.join(dir, f))).digest());
  return outer.digest("hex");
}

function substitute<T>(value: T, caseDir: string, workspace: string | undefined): T {
  const s = JSON.stringify(value).replace(/\$\{(WORKSPACE|HASH|SHA256|BASE64):?([^}]*)\}/g, (m, kind: string, arg: string) => {
    let v: string;
    if (kind === "WORKSPACE") {
      if (workspace === undefined) return m;
      v = workspace;
    } else if (kind === "HASH") v = hashFiles(caseDir, arg ? arg.split(",") : []);
    else if (kind === "BASE64") v = Buffer.from(arg).toString("base64");
    else v = createHash("sha256").update(arg).digest("hex");
    return JSON.stringify(v).slice(1, -1);
  });
  return JSON.parse(s) as T;
}

/**
 * Forgejo sends the workflow file's name as github.workflow; the runner puts
 * the workflow's `name:` in its place, as GitHub does. A workflow without a
 * name stays the file name (GitHub: its path, which the task does not carry).
 */
function forgejoWorkflowNames(exp: CaseExpect, plan: CasePlan): CaseExpect {
  let s = JSON.stringify(exp);
  for (const w of plan.workflows) {
    if (!/github\.workflow\b|GITHUB_WORKFLOW\b/.test(w.text)) continue;
    if (typeof w.doc.name === "string" && w.doc.name.trim() !== "") continue;
    const path = `.forgejo/workflows/${w.file}`;
    s = s.split(JSON.stringify(path).slice(1, -1)).join(JSON.stringify(w.file).slice(1, -1));
  }
  return JSON.parse(s) as CaseExpect;
}

function matches(line: string, m: LineMatcher): boolean {
  if (typeof m === "string") return line.includes(m);
  if ("line" in m) return line === m.line;
  return new RegExp(m.re).test(line);
}

function checkLog(label: string, lines: string[], exp: LogExpect | undefined): void {
  if (!exp) return;
  for (const m of exp.contains ?? []) {
    assert.ok(lines.some((l) => matches(l, m)), `${label}: no row matches ${JSON.stringify(m)}\n--- rows:\n${lines.join("\n")}`);
  }
  for (const m of exp.notContains ?? []) {
    const hit = lines.find((l) => matches(l, m));
    assert.equal(hit, undefined, `${label}: a row matches ${JSON.stringify(m)} but must not`);
  }
  let from = 0;
  for (const m of exp.inOrder ?? []) {
    const at = lines.findIndex((l, i) => i >= from && matches(l, m));
    assert.ok(at >= 0, `${label}: no row matching ${JSON.stringify(m)} after row ${from}\n--- rows:\n${lines.join("\n")}`);
    from = at + 1;
  }
}

interface JobInfo {
  job: RunJob;
  /** Log rows without the probe step's rows. */
  rows: string[];
  probe?: ProbeResult;
  probed: boolean;
  /** The job's steps in the original workflow. */
  wfSteps: Obj[];
}

function jobInfo(j: RunJob): JobInfo {
  const rows = j.view.logRows;
  const probed = j.adapted.probed.has(j.view.jobKey) && j.view.steps.length > 0;
  const wfJob = ((j.wf.doc.jobs ?? {}) as Record<string, Obj>)[j.view.jobKey] ?? {};
  const wfSteps = Array.isArray(wfJob.steps) ? (wfJob.steps as Obj[]) : [];
  if (!probed) return { job: j, rows, probed, wfSteps };
  const last = j.view.steps[j.view.steps.length - 1]!;
  const inProbe = (i: number) => last.logLength > 0 && i >= last.logIndex && i < last.logIndex + last.logLength;
  const probeRows = rows.filter((_, i) => inProbe(i));
  const probe = readProbe(probeRows.length ? probeRows : rows);
  const rest = rows.filter((r, i) => !inProbe(i) && !r.startsWith("NRCONF-42-"));
  return { job: j, rows: rest, probe, probed, wfSteps };
}

/**
 * Whether Forgejo's display name `shown` is the job exec calls `expected`:
 * Forgejo orders matrix values by key name (exec in declaration order) and
 * shows a custom name without a matrix expression as is (exec appends the values).
 */
function sameJobName(shown: string, expected: string, custom: boolean): boolean {
  if (shown === expected) return true;
  const split = (n: string) => {
    const m = /^(.*) \((.*)\)$/.exec(n);
    return m ? { base: m[1]!, values: m[2]!.split(", ").sort().join(", ") } : undefined;
  };
  const a = split(shown);
  const b = split(expected);
  if (a && b && a.base === b.base && a.values === b.values) return true;
  return custom && !a && b !== undefined && b.base === shown;
}

function hasCustomName(j: RunJob): boolean {
  const wfJob = ((j.wf.doc.jobs ?? {}) as Record<string, Obj>)[j.view.jobKey] ?? {};
  return typeof wfJob.name === "string" && !wfJob.name.includes("${{");
}

function runResult(jobs: RunJob[]): string {
  const results = jobs.map((j) => j.view.result);
  if (results.includes("failure")) return "failure";
  if (results.includes("cancelled")) return "cancelled";
  return "success";
}

function continueOnError(step: Obj | undefined): boolean {
  const v = step?.["continue-on-error"];
  return v !== undefined && v !== false && v !== "false";
}

/**
 * What Forgejo's UI needs of every job that ran: a final result per step, step
 * log ranges in order and inside the log, a succeeded `run:` step's range
 * starting with its header, and (with the probe) each step's state equal to its
 * conclusion in the steps context.
 */
function checkStepStates(info: JobInfo): void {
  const v = info.job.view;
  if (v.steps.length === 0) return;
  const dump = `\n--- ${v.name} steps: ${JSON.stringify(v.steps.map((s) => [s.index, s.result, s.logIndex, s.logLength]))}\n--- rows:\n${v.logRows.map((r, i) => `${i} ${r}`).join("\n")}`;
  // forgejo-runner sends job outputs on success only.
  if (v.result !== "success") assert.deepEqual(v.outputs, {}, `job ${v.name} (${v.result}) has outputs stored`);
  const offset = info.job.adapted.offset;
  assert.equal(v.steps.length, info.wfSteps.length + offset + (info.probed ? 1 : 0), `job ${v.name}: payload step count${dump}`);
  let end = 0;
  for (const st of v.steps) {
    assert.ok(st.result !== undefined, `job ${v.name}: step ${st.index} has no result (${st.status})${dump}`);
    if (st.logLength === 0) continue;
    assert.ok(st.logIndex >= end && st.logIndex + st.logLength <= v.logRows.length, `job ${v.name}: step ${st.index} log range${dump}`);
    end = st.logIndex + st.logLength;
    const wfStep = st.index >= offset ? info.wfSteps[st.index - offset] : undefined;
    if (st.result === "success" && typeof wfStep?.run === "string") {
      // Debug rows (condition evaluation) may come first, as in actions/runner.
      const first = v.logRows.slice(st.logIndex, end).find((r) => !r.startsWith("##[debug]")) ?? "";
      assert.match(first, /^##\[group\]Run /, `job ${v.name}: step ${st.index}'s rows do not start with its header${dump}`);
    }
  }
  if (!info.probe?.steps || v.result === "cancelled") return;
  for (const [i, wfStep] of info.wfSteps.entries()) {
    const seen: { conclusion?: string } | undefined = typeof wfStep.id === "string" ? info.probe.steps[wfStep.id] : undefined;
    if (!seen?.conclusion) continue;
    assert.equal(v.steps[i + offset]!.result, seen.conclusion, `job ${v.name}: step ${i + offset} state vs steps.${String(wfStep.id)}.conclusion${dump}`);
  }
}

function verifyJob(key: string, je: JobExpect, info: JobInfo): void {
  const v = info.job.view;
  const dump = `\n--- ${v.name} rows:\n${v.logRows.join("\n")}`;
  if (je.result !== undefined) assert.equal(v.result, je.result, `job ${key} result${dump}`);
  // Forgejo keeps the outputs of successful jobs only.
  if (je.outputs !== undefined && v.result === "success") assert.deepEqual(v.outputs, je.outputs, `job ${key} outputs${dump}`);
  const offset = info.job.adapted.offset;
  const extra = offset + (info.probed ? 1 : 0);
  if (je.stepCount !== undefined && v.steps.length > 0) {
    assert.equal(v.steps.length - extra, je.stepCount, `job ${key} step count`);
  }
  const needsProbe = Object.values(je.steps ?? {}).some((se) => se.outputs || se.outcome || se.conclusion);
  if (needsProbe && v.steps.length > 0) {
    assert.ok(info.probed, `job ${key}: no probe step`);
    assert.equal(info.probe?.error, undefined, `job ${key}: ${info.probe?.error}${dump}`);
  }
  for (const [sk, se] of Object.entries(je.steps ?? {})) {
    if (se.absent) continue; // Forgejo lists every step of the payload
    let idx = -1;
    if (sk.startsWith("#")) idx = Number(sk.slice(1));
    else {
      idx = info.wfSteps.findIndex((s) => s.id === sk);
      if (idx < 0) idx = info.wfSteps.findIndex((s) => s.name === sk);
    }
    assert.ok(idx >= 0 && idx < info.wfSteps.length, `job ${key}: step ${sk} not found in the workflow`);
    const wfStep = info.wfSteps[idx];
    const view = v.steps[idx + offset];
    // Forgejo's one result per step is the conclusion (after continue-on-error).
    const want = se.conclusion ?? (se.outcome === "failure" && continueOnError(wfStep) ? undefined : se.outcome);
    // A cancel stops the task on the server: step states no longer change (the probe still sees them).
    if (want !== undefined && v.steps.length > 0 && v.result !== "cancelled") {
      assert.ok(view, `job ${key}: no step ${idx + offset} in Forgejo's view`);
      assert.equal(view.result, want, `job ${key} step ${sk} (#${idx + offset}) result on Forgejo${dump}`);
    }
    const id = typeof wfStep?.id === "string" ? wfStep.id : undefined;
    if (!id || !info.probe?.steps || v.steps.length === 0) continue;
    const seen = info.probe.steps[id];
    assert.ok(seen, `job ${key}: step ${id} missing from the steps context: ${JSON.stringify(info.probe.steps)}`);
    if (se.outcome !== undefined) assert.equal(seen.outcome, se.outcome, `job ${key} step ${sk} outcome (steps context)${dump}`);
    if (se.conclusion !== undefined) assert.equal(seen.conclusion, se.conclusion, `job ${key} step ${sk} conclusion (steps context)${dump}`);
    if (se.outputs !== undefined) assert.deepEqual(seen.outputs ?? {}, se.outputs, `job ${key} step ${sk} outputs (steps context)${dump}`);
  }
  checkLog(`job ${key} log`, info.rows, je.log);
  const text = info.rows.join("\n");
  if (je.summary) {
    // The summary is written to the log as a "Job summary" group.
    const hasGroup = info.rows.includes("##[group]Job summary");
    if (je.summary.absent) assert.ok(!hasGroup, `job ${key} has no summary`);
    for (const s of je.summary.contains ?? []) {
      const want = s.replace(/\n$/, "");
      assert.ok(hasGroup && text.includes(want), `job ${key}: summary lacks ${JSON.stringify(s)}${dump}`);
    }
  }
  for (const ann of je.annotations ?? []) {
    // Forgejo has no annotations: they are `##[level]message` rows.
    const row = `##[${String(ann.level)}]${String(ann.message)}`;
    assert.ok(text.includes(row), `job ${key}: no annotation row ${JSON.stringify(row)}${dump}`);
  }
}

/**
 * A workflow error the runner finds in the payload: every job fails, no step
 * runs, and the rows explain it (positions refer to the payload, not the file).
 */
function verifyRejected(plan: CasePlan, run: CaseRun): void {
  assert.ok(run.jobs.length > 0, "no job");
  for (const { view } of run.jobs) {
    const dump = `\n--- ${view.name} rows:\n${view.logRows.join("\n")}`;
    assert.equal(view.result, "failure", `job ${view.name} result${dump}`);
    for (const st of view.steps) assert.notEqual(st.result, "success", `job ${view.name}: step ${st.index} ran${dump}`);
    const matchers = (plan.exp.stderr?.contains ?? []).map((m) =>
      typeof m === "object" && "re" in m ? { re: m.re.replace(/Line: \d+/g, "Line: \\d+") } : m,
    );
    checkLog(`job ${view.name} log`, view.logRows, { contains: matchers });
  }
}

function verify(plan: CasePlan, run: CaseRun): void {
  if (plan.rejectedByRunner) return verifyRejected(plan, run);
  const exp0 = forgejoWorkflowNames(structuredClone(plan.exp), plan);
  FORGEJO_EXPECTATIONS[plan.name]?.patch(exp0);
  const infos = run.jobs.map(jobInfo);
  const all = infos.map((i) => i.job.view);
  const known = all.map((j) => `${j.jobKey} "${j.name}" ${j.result}`).join(", ");
  const find = (key: string): JobInfo | undefined => {
    const hit = infos.find((i) => i.job.view.name === key) ?? infos.find((i) => sameJobName(i.job.view.name, key, hasCustomName(i.job)));
    if (hit) return hit;
    const byId = infos.filter((i) => i.job.view.jobKey === key);
    return byId.length === 1 ? byId[0] : undefined;
  };
  const firstWs = infos.find((i) => i.probe?.workspace)?.probe?.workspace;
  // ${WORKSPACE} is per job (each task has its own workspace): jobs are substituted below.
  const exp = { ...substitute({ ...exp0, jobs: undefined }, plan.dir, firstWs), jobs: exp0.jobs };

  if (exp.exitCode !== undefined) {
    const ok = all.every((j) => j.result === "success" || j.result === "skipped");
    assert.equal(ok ? 0 : 1, exp.exitCode === 0 ? 0 : 1, `run outcome (exit code ${exp.exitCode} expected): ${known}`);
  }
  if (exp.result !== undefined) assert.equal(runResult(run.jobs), exp.result, `run result: ${known}`);
  if (exp.jobCount !== undefined) assert.equal(all.length, exp.jobCount, `job count: ${known}`);
  if (exp.jobNames) {
    const left = [...infos];
    for (const n of exp.jobNames) {
      const at = left.findIndex((i) => sameJobName(i.job.view.name, n, hasCustomName(i.job)));
      assert.ok(at >= 0, `job display name ${JSON.stringify(n)} not on Forgejo: ${known}`);
      left.splice(at, 1);
    }
    assert.equal(left.length, 0, `jobs not expected: ${left.map((i) => i.job.view.name).join(", ")}`);
  }

  for (const info of infos) checkStepStates(info);
  const allRows = infos.flatMap((i) => i.rows);
  checkLog("all logs", allRows, exp.log);
  const everything = [...all.flatMap((j) => j.logRows), ...all.flatMap((j) => Object.values(j.outputs))].join("\n");
  for (const s of exp.stdoutNotContains ?? []) {
    const at = everything.indexOf(s);
    assert.equal(at, -1, `Forgejo stores ${JSON.stringify(s)}: ${everything.slice(Math.max(0, at - 300), at + 100)}`);
  }
  // Secrets never reach Forgejo (each line of a multi-line secret is masked on its own).
  for (const [k, secret] of Object.entries(plan.args.secrets ?? {})) {
    for (const line of secret.split("\n")) {
      if (line.length < 6) continue;
      assert.equal(everything.includes(line), false, `secret ${k} reaches Forgejo`);
    }
  }

  for (const [key, je0] of Object.entries(exp.jobs ?? {})) {
    const info = find(key);
    if (je0.absent) {
      assert.equal(info, undefined, `job ${key} must not exist`);
      continue;
    }
    assert.ok(info, `job ${key} not on Forgejo; jobs: ${known}`);
    const je = substitute(je0, plan.dir, info.probe?.workspace ?? firstWs);
    verifyJob(key, je, info);
  }
  if (exp.finishOrder) {
    const done = exp.finishOrder.map((k) => find(k)?.job.view.doneAt ?? 0);
    for (let i = 1; i < done.length; i++) assert.ok(done[i - 1]! <= done[i]!, `finish order ${exp.finishOrder.join(" < ")}`);
  }
}

// ---- the run ----

const only = process.env.CONFORMANCE_ONLY?.split(",").filter(Boolean);
const plans = caseNames()
  .filter((n) => !only || only.includes(n))
  .map(loadCase);

// Every case is enqueued now; the daemon's capacity is the pool.
const runs = new Map<string, Promise<CaseRun>>();
for (const plan of plans) {
  if (plan.skip) continue;
  const p = runCase(plan);
  p.catch(() => undefined);
  runs.set(plan.name, p);
}

for (const plan of plans) {
  const todo = TODO[plan.name] ?? plan.exp.todo;
  const opts = plan.skip ? { skip: plan.skip } : todo ? { todo } : {};
  test(`daemon conformance: ${plan.name}${plan.exp.description ? ` — ${plan.exp.description}` : ""}`, { ...opts, timeout: RUN_CEILING_MS + 30_000 }, async (t) => {
    const run = await runs.get(plan.name)!;
    verify(plan, run);
    if (todo) t.diagnostic(`${plan.name} is marked todo but now conforms: remove it from TODO`);
  });
}

// The comparison must be able to fail: wrong expectations against a real run are caught.
const sample = plans.find(
  (p) =>
    !p.skip &&
    !TODO[p.name] &&
    Object.values(p.exp.jobs ?? {}).some(
      (je) => je.result && Object.values(je.steps ?? {}).some((se) => se.outputs) && Object.values(je.steps ?? {}).some((se) => se.conclusion ?? se.outcome),
    ),
);
test("daemon conformance: harness self-check — wrong expectations fail", sample ? {} : { skip: "no suitable case selected" }, async () => {
  const plan = sample!;
  const run = await runs.get(plan.name)!;
  verify(plan, run);
  const [jk, je] = Object.entries(plan.exp.jobs!).find(
    ([, je]) => je.result && Object.values(je.steps ?? {}).some((se) => se.outputs),
  )!;
  const mutated = (f: (job: JobExpect) => void): CasePlan => {
    const exp = structuredClone(plan.exp);
    f(exp.jobs![jk]!);
    return { ...plan, exp };
  };
  const other = (r: string | undefined) => (r === "success" ? "failure" : "success");
  assert.throws(() => verify(mutated((j) => (j.result = other(je.result))), run), /result/);
  assert.throws(() => verify(mutated((j) => (j.log = { contains: [{ line: "no such row 5f0e" }] })), run), /no row matches/);
  assert.throws(() => verify(mutated((j) => (j.log = { notContains: [{ re: "." }] })), run), /must not/);
  const [sk] = Object.entries(je.steps!).find(([, se]) => se.outputs)!;
  assert.throws(() => verify(mutated((j) => (j.steps![sk]!.outputs = { ...j.steps![sk]!.outputs, nrconf_extra: "x" })), run), /outputs/);
  const [ck, ce] = Object.entries(je.steps!).find(([, se]) => se.conclusion ?? se.outcome)!;
  assert.throws(() => verify(mutated((j) => (j.steps![ck] = { conclusion: other(ce.conclusion ?? ce.outcome) })), run), /result|conclusion/);
});

