// Reads the conformance corpus (test/conformance/cases) and decides, per case,
// what can be run through Forgejo + the daemon and how: which workflows the
// server would start for the event, whether the workspace needs a checkout,
// which assertions are the server's business rather than the runner's.

import fs from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";

export const CASES_DIR = path.resolve(import.meta.dirname, "../conformance/cases");

export type LineMatcher = string | { line: string } | { re: string };

export interface LogExpect {
  contains?: LineMatcher[];
  notContains?: LineMatcher[];
  inOrder?: LineMatcher[];
}

export interface StepExpect {
  name?: string;
  outcome?: string;
  conclusion?: string;
  outputs?: Record<string, string>;
  absent?: boolean;
}

export interface JobExpect {
  result?: string;
  outcome?: string;
  outputs?: Record<string, string>;
  matrix?: Record<string, unknown> | null;
  absent?: boolean;
  steps?: Record<string, StepExpect>;
  stepCount?: number;
  log?: LogExpect;
  summary?: { contains?: string[]; absent?: boolean };
  annotations?: Array<Record<string, unknown>>;
}

export interface CaseExpect {
  description?: string;
  todo?: string;
  exitCode?: number;
  result?: string;
  jobCount?: number;
  jobNames?: string[];
  jobs?: Record<string, JobExpect>;
  log?: LogExpect;
  stderr?: LogExpect;
  stdoutEmpty?: boolean;
  stdoutNotContains?: string[];
  finishOrder?: string[];
  maxOverlap?: number;
}

export interface CaseArgs {
  event?: string;
  eventFile?: string;
  secrets?: Record<string, string>;
  vars?: Record<string, string>;
  inputs?: Record<string, string>;
  env?: Record<string, string>;
  extra?: string[];
}

type Obj = Record<string, unknown>;

export interface WorkflowFile {
  file: string;
  text: string;
  doc: Obj;
}

export interface CasePlan {
  name: string;
  dir: string;
  exp: CaseExpect;
  args: CaseArgs;
  /** Why the case is not run through the daemon. */
  skip?: string;
  /**
   * An invalid workflow whose problem Forgejo's parser does not check: the payload reaches
   * the runner, which must fail the job before any step runs.
   */
  rejectedByRunner?: boolean;
  /**
   * Jobs are expected cancelled by fail-fast: the harness cancels the running siblings of a
   * failed matrix instance through the server, as a user would on Forgejo.
   */
  failFast?: boolean;
  /** The workflows the server would start for the event. */
  workflows: WorkflowFile[];
  event: string;
  /** The workspace must hold the case's files: a checkout step is prepended to every job. */
  checkout: boolean;
  /**
   * Steps whose continue-on-error is an expression (Forgejo's payload keeps only a literal
   * true): job id → step index → the value the expectation implies.
   */
  continueOnError: Map<string, Map<number, boolean>>;
  /** Files of the repository (relative path → content) and which are executable. */
  files: Record<string, string>;
  executable: string[];
}

/**
 * Invalid workflows Forgejo accepts: its parser does not look at expression syntax, duplicate
 * step ids or which contexts a key may use, so the job reaches the runner.
 */
const RUNNER_CHECKED = new Set(["invalid-expression", "invalid-duplicate-step-id", "invalid-job-env-context"]);

const obj = (v: unknown): Obj => (v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {});

/** Event names a workflow's `on:` lists. */
export function triggers(doc: Obj): string[] {
  const on = doc.on;
  if (typeof on === "string") return [on];
  if (Array.isArray(on)) return on.map(String);
  return Object.keys(obj(on));
}

function listFiles(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(dir, p));
    else out.push(p);
  }
  return out;
}

/**
 * A matrix the server cannot expand the way the runner's corpus expects:
 * values computed from expressions (the server evaluates them once the needs
 * are done).
 */
function serverMatrixLimit(job: Obj): string | undefined {
  const matrix = obj(job.strategy).matrix;
  if (matrix === undefined) return undefined;
  if (typeof matrix === "string") return "its matrix is an expression (expanded by the server after the needs finish)";
  const m = obj(matrix);
  const dims = Object.keys(m).filter((k) => k !== "include" && k !== "exclude");
  for (const k of dims) if (typeof m[k] === "string") return `matrix dimension ${k} is an expression (expanded by the server)`;
  if (typeof m.include === "string") return "matrix include is an expression (expanded by the server)";
  return undefined;
}

function jobs(doc: Obj): Record<string, Obj> {
  return obj(doc.jobs) as Record<string, Obj>;
}

export function loadCase(name: string): CasePlan {
  const dir = path.join(CASES_DIR, name);
  const exp = JSON.parse(fs.readFileSync(path.join(dir, "expected.json"), "utf8")) as CaseExpect;
  const argsFile = path.join(dir, "args.json");
  const args: CaseArgs = fs.existsSync(argsFile) ? (JSON.parse(fs.readFileSync(argsFile, "utf8")) as CaseArgs) : {};
  const event = args.event ?? "push";
  const plan: CasePlan = { name, dir, exp, args, workflows: [], event, checkout: false, files: {}, executable: [], continueOnError: new Map() };

  const wfDir = path.join(dir, ".forgejo/workflows");
  const all: WorkflowFile[] = [];
  for (const file of fs.readdirSync(wfDir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    const text = fs.readFileSync(path.join(wfDir, file), "utf8");
    let doc: Obj = {};
    try {
      doc = obj(parseYaml(text));
    } catch {
      doc = {};
    }
    all.push({ file, text, doc });
  }

  // Files of the repository other than the workflows and the harness's own.
  for (const rel of listFiles(dir)) {
    if (rel === "expected.json" || rel === "args.json" || rel === args.eventFile) continue;
    const abs = path.join(dir, rel);
    plan.files[rel] = fs.readFileSync(abs, "utf8");
    if (fs.statSync(abs).mode & 0o111) plan.executable.push(rel);
    if (!rel.startsWith(".forgejo/workflows/")) plan.checkout = true;
  }

  const skip = (why: string): CasePlan => ({ ...plan, skip: why });
  if (exp.stdoutEmpty && RUNNER_CHECKED.has(name)) {
    plan.rejectedByRunner = true;
    plan.workflows = all;
    return plan;
  }
  if (exp.stdoutEmpty || (exp.exitCode !== undefined && exp.exitCode !== 0 && !exp.jobs && exp.stderr)) {
    return skip("an invalid workflow: Forgejo refuses to create a run from it, nothing reaches a runner");
  }
  const unsupportedExtra = (args.extra ?? []).filter((a, i, arr) => a !== "--concurrency" && arr[i - 1] !== "--concurrency");
  if (unsupportedExtra.length) return skip(`exec arguments without a Forgejo equivalent: ${unsupportedExtra.join(" ")}`);
  if (args.env && Object.keys(args.env).length) return skip("exec --env has no Forgejo equivalent");

  plan.workflows = all.filter((w) => triggers(w.doc).includes(event));
  if (plan.workflows.length === 0) return skip(`no workflow is triggered by ${event}`);
  for (const w of plan.workflows) {
    for (const [id, job] of Object.entries(jobs(w.doc))) {
      if (typeof job.uses === "string") return skip(`job ${id} calls a reusable workflow (expanded by the server; the emulator does not)`);
      if (job["continue-on-error"] !== undefined) {
        return skip(`job ${id} has continue-on-error, which Forgejo's payload does not carry (the job fails and its dependents are skipped)`);
      }
      const limit = serverMatrixLimit(job);
      if (limit) return skip(`job ${id}: ${limit}`);
    }
  }
  for (const w of plan.workflows) {
    for (const [id, job] of Object.entries(jobs(w.doc))) {
      const steps = Array.isArray(job.steps) ? (job.steps as Obj[]) : [];
      for (const [i, step] of steps.entries()) {
        const coe = step["continue-on-error"];
        if (typeof coe !== "string" || coe === "true" || coe === "false") continue;
        const value = impliedContinueOnError(exp, id, step);
        if (value === undefined) return skip(`job ${id} step ${i}: continue-on-error is an expression (dropped by Forgejo's payload) and the expectation does not say its value`);
        if (!plan.continueOnError.has(id)) plan.continueOnError.set(id, new Map());
        plan.continueOnError.get(id)!.set(i, value);
      }
    }
  }
  const cancelled = Object.entries(exp.jobs ?? {}).filter(([, je]) => je.result === "cancelled");
  if (cancelled.length > 0) {
    const concurrency = (args.extra ?? []).indexOf("--concurrency");
    if (concurrency >= 0 && args.extra![concurrency + 1] === "1") {
      return skip("jobs are expected cancelled while queued behind `exec --concurrency 1`: which jobs a runner has started is the server's scheduling");
    }
    const failFastJobs = plan.workflows.flatMap((w) =>
      Object.entries(jobs(w.doc))
        .filter(([, j]) => obj(j.strategy).matrix !== undefined && obj(j.strategy)["fail-fast"] !== false)
        .map(([id]) => id),
    );
    for (const [key] of cancelled) {
      if (!failFastJobs.some((id) => key.startsWith(`${id} (`))) return skip(`job ${key} is expected cancelled, not by fail-fast`);
    }
    plan.failFast = true;
  }
  return plan;
}

/** What an expected step's outcome/conclusion say about its continue-on-error. */
function impliedContinueOnError(exp: CaseExpect, jobId: string, step: Obj): boolean | undefined {
  const key = typeof step.id === "string" ? step.id : undefined;
  const je = exp.jobs?.[jobId];
  const se = key ? je?.steps?.[key] : undefined;
  if (!se || se.outcome !== "failure" || se.conclusion === undefined) return undefined;
  return se.conclusion === "success";
}

/** Default values of workflow_dispatch inputs, as the server fills them into the event. */
export function dispatchInputs(plan: CasePlan, w: WorkflowFile): Record<string, string> {
  const out: Record<string, string> = {};
  const inputs = obj(obj(obj(w.doc.on).workflow_dispatch).inputs);
  for (const [k, def] of Object.entries(inputs)) {
    const d = obj(def).default;
    if (d !== undefined && d !== null) out[k] = String(d);
  }
  return { ...out, ...(plan.args.inputs ?? {}) };
}

export function caseNames(): string[] {
  return fs
    .readdirSync(CASES_DIR)
    .filter((n) => fs.existsSync(path.join(CASES_DIR, n, "expected.json")))
    .sort();
}
