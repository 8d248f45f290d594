// Data-driven conformance corpus for `exec --json`: every directory under
// cases/ is a tiny repository whose expected.json states what GitHub's runner
// would produce. Each case is copied to a fresh git repository, run through
// the real CLI, and the JSON event stream is compared with the expectation.
// corpusCases() gives one test per case; the test files define them and
// choose where the jobs run (the host, or a job container).
import type { TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../..");
const casesDir = path.join(here, "cases");
const POOL = Number(process.env.CONFORMANCE_POOL ?? 3);
const CASE_TIMEOUT_MS = 60_000;

type LineMatcher = string | { line: string } | { re: string };

interface LogExpect {
  contains?: LineMatcher[];
  notContains?: LineMatcher[];
  /** Each matcher must match a line after the line matched by the previous one. */
  inOrder?: LineMatcher[];
}

interface StepExpect {
  name?: string;
  outcome?: string;
  conclusion?: string;
  outputs?: Record<string, string>;
  absent?: boolean;
}

interface JobExpect {
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

interface CaseExpect {
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
  /** Substrings that must appear nowhere in the raw --json output (any event, any field). */
  stdoutNotContains?: string[];
  /** Jobs (keys or names) that must finish in this order relative to each other. */
  finishOrder?: string[];
  /** At most this many jobs of the run overlap in time. */
  maxOverlap?: number;
}

interface CaseArgs {
  event?: string;
  eventFile?: string;
  secrets?: Record<string, string>;
  vars?: Record<string, string>;
  inputs?: Record<string, string>;
  env?: Record<string, string>;
  extra?: string[];
}

interface JsonEvent {
  type: string;
  job?: string;
  [k: string]: unknown;
}

interface RunOutput {
  code: number | null;
  stdout: string;
  stderr: string;
  events: JsonEvent[];
  workspace: string;
}

// The CLI is bundled from src/ once per run (as scripts/build.mjs does): starting
// it through tsx costs seconds per case on a loaded machine. CONFORMANCE_TSX=1
// runs `node --import tsx src/cli/entry.ts` instead.
async function cliCommand(): Promise<string[]> {
  if (process.env.CONFORMANCE_TSX === "1") return ["--import", "tsx", "src/cli/entry.ts"];
  const { build } = await import("esbuild");
  // Inside node_modules so the bundle resolves its external native addon.
  const outfile = path.join(repoRoot, "node_modules/.cache/conformance", `cli-${process.pid}.mjs`);
  await build({
    entryPoints: [path.join(repoRoot, "src/cli/entry.ts")],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    external: ["better-sqlite3", "dockerode"],
    banner: { js: "import { createRequire as __cfCreateRequire } from 'node:module'; const require = __cfCreateRequire(import.meta.url);" },
    logLevel: "warning",
  });
  process.on("exit", () => fs.rmSync(outfile, { force: true }));
  return [outfile];
}
let cli: string[] = [];
let tmpRoot = "";

function execArgs(args: CaseArgs, workspace: string, extra: string[]): string[] {
  const out = ["exec", "-C", workspace, "--json", ...extra];
  if (args.event) out.push("-E", args.event);
  if (args.eventFile) out.push("-e", path.join(workspace, args.eventFile));
  for (const [k, v] of Object.entries(args.secrets ?? {})) out.push("-s", `${k}=${v}`);
  for (const [k, v] of Object.entries(args.vars ?? {})) out.push("--var", `${k}=${v}`);
  for (const [k, v] of Object.entries(args.inputs ?? {})) out.push("--input", `${k}=${v}`);
  for (const [k, v] of Object.entries(args.env ?? {})) out.push("--env", `${k}=${v}`);
  out.push(...(args.extra ?? []));
  return out;
}

function runCase(name: string, extra: string[], timeoutMs: number): Promise<RunOutput> {
  const src = path.join(casesDir, name);
  // Named like the case so `github.repository` is `local/<case>`.
  const workspace = path.join(fs.mkdtempSync(path.join(tmpRoot, "ws-")), name);
  fs.cpSync(src, workspace, { recursive: true });
  fs.rmSync(path.join(workspace, "expected.json"), { force: true });
  const argsFile = path.join(workspace, "args.json");
  const args: CaseArgs = fs.existsSync(argsFile) ? JSON.parse(fs.readFileSync(argsFile, "utf8")) : {};
  fs.rmSync(argsFile, { force: true });
  execFileSync("git", ["init", "-q", "-b", "main", workspace]);
  const state = fs.mkdtempSync(path.join(tmpRoot, "xdg-"));
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_STATE_HOME: path.join(state, "state"), XDG_CACHE_HOME: path.join(state, "cache") };
  for (const k of Object.keys(env)) {
    if (/^(ACTIONS_|GITHUB_|FORGEJO_|GITEA_|RUNNER_|INPUT_|STATE_)/.test(k)) delete env[k];
  }
  env.NO_COLOR = "1";
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...cli, ...execArgs(args, workspace, extra)], {
      cwd: repoRoot,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      const events: JsonEvent[] = [];
      for (const line of stdout.split("\n")) {
        if (!line.trim()) continue;
        try {
          events.push(JSON.parse(line) as JsonEvent);
        } catch {
          events.push({ type: "non-json", line });
        }
      }
      resolve({ code, stdout, stderr, events, workspace });
    });
  });
}

// hashFiles per actions/runner: sha256 over the concatenated sha256 digests
// of the matched files, hex; empty string when nothing matched.
function hashFiles(workspace: string, files: string[]): string {
  if (files.length === 0) return "";
  const outer = createHash("sha256");
  for (const f of files) outer.update(createHash("sha256").update(fs.readFileSync(path.join(workspace, f))).digest());
  return outer.digest("hex");
}

function substitute<T>(value: T, workspace: string): T {
  const s = JSON.stringify(value).replace(/\$\{(WORKSPACE|HASH|SHA256|BASE64):?([^}]*)\}/g, (_m, kind: string, arg: string) => {
    let v: string;
    if (kind === "WORKSPACE") v = workspace;
    else if (kind === "HASH") v = hashFiles(workspace, arg ? arg.split(",") : []);
    else if (kind === "BASE64") v = Buffer.from(arg).toString("base64");
    else v = createHash("sha256").update(arg).digest("hex");
    return JSON.stringify(v).slice(1, -1);
  });
  return JSON.parse(s) as T;
}

function matches(line: string, m: LineMatcher): boolean {
  if (typeof m === "string") return line.includes(m);
  if ("line" in m) return line === m.line;
  return new RegExp(m.re).test(line);
}

function checkLog(label: string, lines: string[], exp: LogExpect | undefined): void {
  if (!exp) return;
  for (const m of exp.contains ?? []) {
    assert.ok(lines.some((l) => matches(l, m)), `${label}: no line matches ${JSON.stringify(m)}\n--- lines:\n${lines.join("\n")}`);
  }
  for (const m of exp.notContains ?? []) {
    const hit = lines.find((l) => matches(l, m));
    assert.equal(hit, undefined, `${label}: a line matches ${JSON.stringify(m)} but must not`);
  }
  let from = 0;
  for (const m of exp.inOrder ?? []) {
    const at = lines.findIndex((l, i) => i >= from && matches(l, m));
    assert.ok(at >= 0, `${label}: no line matching ${JSON.stringify(m)} after line ${from}\n--- lines:\n${lines.join("\n")}`);
    from = at + 1;
  }
}

function verify(exp: CaseExpect, run: RunOutput): void {
  const ctx = `\n--- stderr:\n${run.stderr.slice(0, 4000)}`;
  if (exp.exitCode !== undefined) assert.equal(run.code, exp.exitCode, `exit code${ctx}`);
  if (exp.stdoutEmpty) assert.equal(run.stdout.trim(), "", "stdout must be empty");
  checkLog("stderr", run.stderr.split("\n"), exp.stderr);
  for (const s of exp.stdoutNotContains ?? []) {
    const at = run.stdout.indexOf(s);
    assert.equal(at, -1, `--json output contains ${JSON.stringify(s)}: ${run.stdout.slice(Math.max(0, at - 300), at + 100)}`);
  }
  const nonJson = run.events.filter((e) => e.type === "non-json");
  assert.deepEqual(nonJson, [], "stdout holds only JSON lines");

  const finishes = run.events.filter((e) => e.type === "job-finish");
  const runFinish = run.events.find((e) => e.type === "run-finish");
  if (exp.result !== undefined) assert.equal(runFinish?.result, exp.result, `run result${ctx}`);
  if (exp.jobCount !== undefined) {
    assert.equal(finishes.length, exp.jobCount, `job count: ${finishes.map((f) => `${f.job} (${String(f.name)})`).join(", ")}`);
  }
  if (exp.jobNames) {
    assert.deepEqual(finishes.map((f) => String(f.name)).sort(), [...exp.jobNames].sort(), "job display names");
  }
  // A job is named by its instance key, its display name, or (when that is unambiguous) its YAML id.
  const find = (key: string): JsonEvent | undefined => {
    const hit = finishes.find((f) => f.job === key) ?? finishes.find((f) => f.name === key);
    if (hit) return hit;
    const byId = finishes.filter((f) => f.id === key);
    return byId.length === 1 ? byId[0] : undefined;
  };
  const allLines = run.events.filter((e) => e.type === "log").map((e) => String(e.line));
  checkLog("all logs", allLines, exp.log);

  for (const [key, je] of Object.entries(exp.jobs ?? {})) {
    const fin = find(key);
    const known = finishes.map((f) => `${f.job} (${String(f.name)})`).join(", ");
    if (je.absent) {
      assert.equal(fin, undefined, `job ${key} must not exist`);
      continue;
    }
    assert.ok(fin, `job ${key} not reported; jobs: ${known}${ctx}`);
    const jk = fin.job!;
    const jobLines = run.events.filter((e) => e.type === "log" && e.job === jk).map((e) => String(e.line));
    const dump = `\n--- ${jk} log:\n${jobLines.join("\n")}`;
    if (je.result !== undefined) assert.equal(fin.result, je.result, `job ${key} result${dump}`);
    if (je.outcome !== undefined) assert.equal(fin.outcome, je.outcome, `job ${key} outcome${dump}`);
    if (je.outputs !== undefined) assert.deepEqual(fin.outputs, je.outputs, `job ${key} outputs${dump}`);
    if (je.matrix !== undefined) assert.deepEqual(fin.matrix, je.matrix, `job ${key} matrix`);
    const steps = run.events.filter((e) => e.type === "step-finish" && e.job === jk);
    if (je.stepCount !== undefined) {
      assert.equal(steps.length, je.stepCount, `job ${key} step count: ${steps.map((s) => String(s.name)).join(", ")}`);
    }
    for (const [sk, se] of Object.entries(je.steps ?? {})) {
      const st = sk.startsWith("#")
        ? steps.find((s) => s.index === Number(sk.slice(1)))
        : steps.find((s) => s.id === sk) ?? steps.find((s) => s.name === sk);
      if (se.absent) {
        assert.equal(st, undefined, `job ${key} step ${sk} must not be reported`);
        continue;
      }
      assert.ok(st, `job ${key}: step ${sk} not reported; steps: ${steps.map((s) => `${String(s.id)}/${String(s.name)}`).join(", ")}${dump}`);
      if (se.name !== undefined) assert.equal(st.name, se.name, `job ${key} step ${sk} name`);
      if (se.outcome !== undefined) assert.equal(st.outcome, se.outcome, `job ${key} step ${sk} outcome${dump}`);
      if (se.conclusion !== undefined) assert.equal(st.conclusion, se.conclusion, `job ${key} step ${sk} conclusion${dump}`);
      if (se.outputs !== undefined) assert.deepEqual(st.outputs, se.outputs, `job ${key} step ${sk} outputs${dump}`);
    }
    checkLog(`job ${key} log`, jobLines, je.log);
    if (je.summary) {
      const md = run.events.filter((e) => e.type === "summary" && e.job === jk).map((e) => String(e.markdown)).join("");
      if (je.summary.absent) assert.equal(md, "", `job ${key} has no summary`);
      for (const s of je.summary.contains ?? []) assert.ok(md.includes(s), `job ${key} summary lacks ${JSON.stringify(s)}: ${md}`);
    }
    for (const ann of je.annotations ?? []) {
      const anns = run.events.filter((e) => e.type === "annotation" && e.job === jk);
      const ok = anns.some((a) => Object.entries(ann).every(([k, v]) => a[k] === v));
      assert.ok(ok, `job ${key}: no annotation like ${JSON.stringify(ann)}; got ${JSON.stringify(anns)}`);
    }
  }

  if (exp.finishOrder) {
    const order = exp.finishOrder.map((k) => finishes.indexOf(find(k)!));
    for (let i = 1; i < order.length; i++) assert.ok(order[i - 1]! < order[i]!, `finish order ${exp.finishOrder.join(" < ")}`);
  }
  if (exp.maxOverlap !== undefined) {
    let running = 0;
    let peak = 0;
    for (const e of run.events) {
      if (e.type === "job-start") peak = Math.max(peak, ++running);
      else if (e.type === "job-finish" && run.events.some((s) => s.type === "job-start" && s.job === e.job)) running--;
    }
    assert.ok(peak <= exp.maxOverlap, `at most ${exp.maxOverlap} jobs overlap, saw ${peak}`);
  }
}

export interface CorpusOptions {
  /** Test name prefix. */
  title: string;
  /** More `exec` arguments for every case (e.g. `-i image`). */
  execArgs?: string[];
  /** Cases that cannot hold in this setting, with the reason (reported as skipped, never run). */
  exceptions?: Record<string, string>;
  /** Why the whole corpus cannot run here, or undefined. */
  unavailable?: () => Promise<string | undefined>;
  caseTimeoutMs?: number;
  /** Only every `count`-th case from `index` (0-based): a long run split over test files. */
  shard?: { index: number; count: number };
}

export interface CorpusCase {
  title: string;
  options: { skip?: string; todo?: string };
  run(t: TestContext): Promise<void>;
}

/**
 * One test per case, for the calling file to define (so that reports name it);
 * every case to run starts now, through a small pool.
 */
export async function corpusCases(o: CorpusOptions): Promise<CorpusCase[]> {
  const reason = await o.unavailable?.();
  const names = fs
    .readdirSync(casesDir)
    .filter((n) => fs.existsSync(path.join(casesDir, n, "expected.json")))
    .sort();
  const only = process.env.CONFORMANCE_ONLY?.split(",").filter(Boolean);
  const shard = o.shard;
  const selected = (only ? names.filter((n) => only.includes(n)) : names).filter((_n, i) => !shard || i % shard.count === shard.index);
  const exceptions = o.exceptions ?? {};
  for (const n of Object.keys(exceptions)) if (!names.includes(n)) throw new Error(`exception for unknown case ${n}`);
  const toRun = reason ? [] : selected.filter((n) => exceptions[n] === undefined);
  if (toRun.length > 0 && cli.length === 0) {
    cli = await cliCommand();
    tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "conformance-"));
    process.on("exit", () => fs.rmSync(tmpRoot, { recursive: true, force: true }));
  }

  let active = 0;
  const waiting: Array<() => void> = [];
  async function pooled<T>(fn: () => Promise<T>): Promise<T> {
    if (active >= POOL) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  }

  const runs = new Map<string, Promise<RunOutput>>();
  for (const n of toRun) {
    const p = pooled(() => runCase(n, o.execArgs ?? [], o.caseTimeoutMs ?? CASE_TIMEOUT_MS));
    p.catch(() => undefined);
    runs.set(n, p);
  }

  return selected.map((n) => {
    const exp = JSON.parse(fs.readFileSync(path.join(casesDir, n, "expected.json"), "utf8")) as CaseExpect;
    const skip = reason ?? exceptions[n];
    return {
      title: `${o.title}: ${n}${exp.description ? ` — ${exp.description}` : ""}`,
      options: skip ? { skip } : exp.todo ? { todo: exp.todo } : {},
      async run(t: TestContext) {
        const run = await runs.get(n)!;
        verify(substitute(exp, run.workspace), run);
        if (exp.todo) t.diagnostic(`${n} is marked todo but now conforms: remove its "todo"`);
      },
    };
  });
}
