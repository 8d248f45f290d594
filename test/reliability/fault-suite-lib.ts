// The fault-injection suite: many deterministic jobs of mixed length and
// output run by the real CLI daemon against the emulator while every RPC
// suffers random drops, lost answers, 5xx, latency spikes and resets; the
// emulator restarts once (state kept) and the daemon is killed with SIGKILL
// once and started again. Every job's log at the emulator is compared row
// for row with the rows its workflow produces. Used by
// test/reliability/fault-suite.test.ts (CI size) and bench/fault-suite.ts.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startEmulator, type Emulator, type JobView } from "../emulator/index.js";
import { REPO_ROOT, alive, setupEnv, waitUntil, type TestEnv } from "../daemon/harness.js";
import { RESTART_LINE } from "../../src/daemon/recovery.js";
import { MAX_ROW_BYTES } from "../../src/daemon/log-rows.js";

// ---------------------------------------------------------------- job specs

type StepSpec =
  | { type: "silent" }
  | { type: "lines"; n: number }
  | { type: "fail"; n: number; code: number }
  | { type: "output"; key: string; value: string }
  | { type: "multiline" }
  | { type: "long"; len: number }
  /** Prints n lines, tells the test it is running, then waits (a job the kill -9 interrupts). */
  | { type: "block"; n: number };

export interface JobSpec {
  name: string;
  steps: StepSpec[];
}

/** One expected row, or rows whose concatenation is known (a line longer than a row). */
type Expected = string | { joined: string };

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function makeJobSpecs(count: number, seed: number, opts: { maxLines?: number } = {}): JobSpec[] {
  const rnd = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const maxLines = opts.maxLines ?? 3000;
  const specs: JobSpec[] = [];
  for (let j = 0; j < count; j++) {
    const steps: StepSpec[] = [];
    const n = int(1, 3);
    for (let s = 0; s < n; s++) {
      const r = rnd();
      if (r < 0.15) steps.push({ type: "silent" });
      else if (r < 0.5) steps.push({ type: "lines", n: int(1, 40) });
      else if (r < 0.58) steps.push({ type: "lines", n: int(maxLines / 3, maxLines) });
      else if (r < 0.7) steps.push({ type: "fail", n: int(0, 10), code: int(1, 9) });
      else if (r < 0.82) steps.push({ type: "output", key: `out${s}`, value: `v-${j}-${s}-${int(0, 1e6)}` });
      else if (r < 0.94) steps.push({ type: "multiline" });
      else steps.push({ type: "long", len: rnd() < 0.5 ? int(1000, 60_000) : int(70_000, 150_000) });
    }
    specs.push({ name: `j${seed}x${j}`, steps });
  }
  return specs;
}

function stepScript(job: JobSpec, i: number, step: StepSpec, signalDir: string): string {
  const tag = `${job.name}-s${i}`;
  switch (step.type) {
    case "silent":
      return "true";
    case "lines":
      return `for i in $(seq 1 ${step.n}); do echo "${tag}-$i"; done`;
    case "fail":
      return `for i in $(seq 1 ${step.n}); do echo "${tag}-$i"; done; exit ${step.code}`;
    case "output":
      return `echo "${step.key}=${step.value}" >> "$GITHUB_OUTPUT"; echo "${tag} set ${step.key}"`;
    case "multiline":
      return `printf '${tag}-a\\n${tag}-b\\n\\n  ${tag}-c  \\n'`;
    case "long":
      return `head -c ${step.len} /dev/zero | tr '\\0' 'x'; echo; echo "${tag}-end"`;
    case "block":
      // A job worker stops its job when the daemon dies; a setsid'd process outlives it (as a job's own
      // daemon would), and crash recovery must find it by its marker.
      return `for i in $(seq 1 ${step.n}); do echo "${tag}-$i"; done; touch ${signalDir}/${job.name}; setsid sleep 317 & wait`;
  }
}

export function specWorkflow(job: JobSpec, signalDir: string): string {
  const outputs = job.steps
    .map((s, i) => (s.type === "output" ? `      ${s.key}: \${{ steps.s${i}.outputs.${s.key} }}\n` : ""))
    .join("");
  const steps = job.steps
    .map((s, i) => `      - id: s${i}\n        run: ${JSON.stringify(stepScript(job, i, s, signalDir))}\n`)
    .join("");
  return `on: push\njobs:\n  ${job.name}:\n    runs-on: native\n${outputs ? `    outputs:\n${outputs}` : ""}    steps:\n${steps}`;
}

function expectedStep(job: JobSpec, i: number, step: StepSpec): Expected[] {
  const tag = `${job.name}-s${i}`;
  const seq = (n: number) => Array.from({ length: n }, (_, k) => `${tag}-${k + 1}`);
  switch (step.type) {
    case "silent":
      return [];
    case "lines":
    case "block":
      return seq(step.n);
    case "fail":
      return [...seq(step.n), `##[error]Process completed with exit code ${step.code}.`];
    case "output":
      return [`${tag} set ${step.key}`];
    case "multiline":
      return [`${tag}-a`, `${tag}-b`, "", `  ${tag}-c  `];
    case "long":
      return [{ joined: "x".repeat(step.len) }, `${tag}-end`];
  }
}

/** What the emulator must show for this job when nothing went wrong. */
export function expectedOutcome(job: JobSpec): { result: "success" | "failure"; steps: string[]; outputs: Record<string, string> } {
  const steps: string[] = [];
  let failed = false;
  const outputs: Record<string, string> = {};
  for (const s of job.steps) {
    if (failed) {
      steps.push("skipped");
      continue;
    }
    if (s.type === "fail") {
      failed = true;
      steps.push("failure");
    } else {
      steps.push("success");
      if (s.type === "output") outputs[s.key] = s.value;
    }
  }
  return { result: failed ? "failure" : "success", steps, outputs: failed ? {} : outputs };
}

// ---------------------------------------------------------------- checking

export interface JobCheck {
  rows: number;
  lost: number;
  duplicated: number;
  wrong: number;
  problems: string[];
}

/** Matches actual rows against expected ones; counts lost and duplicated rows (multiset) and order errors. */
function compareRows(actual: string[], expected: Expected[], where: string, out: JobCheck): void {
  const flat: string[] = [];
  let a = 0;
  let exact = true;
  for (const e of expected) {
    if (typeof e === "string") {
      flat.push(e);
      if (actual[a] === e) a++;
      else exact = false;
      continue;
    }
    // rows whose concatenation is the long line, each at most one row's size
    let text = "";
    const start = a;
    while (a < actual.length && text.length < e.joined.length && e.joined.startsWith(text + actual[a]!)) {
      if (Buffer.byteLength(actual[a]!, "utf8") > MAX_ROW_BYTES) out.problems.push(`${where}: a row of ${actual[a]!.length} bytes`);
      text += actual[a]!;
      a++;
    }
    if (text !== e.joined) {
      exact = false;
      flat.push(e.joined);
    } else {
      for (let k = start; k < a; k++) flat.push(actual[k]!);
    }
  }
  if (exact && a === actual.length) return;
  // count what differs
  const want = new Map<string, number>();
  for (const r of flat) want.set(r, (want.get(r) ?? 0) + 1);
  const got = new Map<string, number>();
  for (const r of actual) got.set(r, (got.get(r) ?? 0) + 1);
  let lost = 0;
  let dup = 0;
  for (const [r, n] of want) lost += Math.max(0, n - (got.get(r) ?? 0));
  for (const [r, n] of got) dup += Math.max(0, n - (want.get(r) ?? 0));
  out.lost += lost;
  out.duplicated += dup;
  if (lost === 0 && dup === 0) out.wrong++;
  out.problems.push(`${where}: rows differ (lost ${lost}, extra ${dup}); got ${JSON.stringify(actual.slice(0, 8).map((r) => r.slice(0, 60)))}…`);
}

/** The output rows of a step window: what follows the `##[endgroup]` that closes the step's header. */
function outputRows(window: string[]): string[] {
  const end = window.indexOf("##[endgroup]");
  return end >= 0 ? window.slice(end + 1) : window;
}

/**
 * Checks one job at the emulator. `interrupted`: the job was running when the
 * daemon was killed; `journaled` holds the rows its spool had at that moment.
 */
export function checkJob(spec: JobSpec, view: JobView, interrupted?: { journaled: string[]; complete?: boolean }): JobCheck {
  const out: JobCheck = { rows: view.logRows.length, lost: 0, duplicated: 0, wrong: 0, problems: [] };
  const where = `${spec.name} (job ${view.jobId})`;
  const rows = view.logRows;
  if (view.status !== "done") {
    out.wrong++;
    out.problems.push(`${where}: not done (${view.status})`);
    return out;
  }
  if (!view.logArchived) out.problems.push(`${where}: log not archived`);
  if (interrupted) {
    if (view.result !== "failure") {
      out.wrong++;
      out.problems.push(`${where}: interrupted job ended ${view.result}`);
    }
    if (rows.at(-1) !== RESTART_LINE) {
      out.wrong++;
      out.problems.push(`${where}: last row is not the restart line: ${JSON.stringify(rows.at(-1))}`);
    }
    compareRows(rows.slice(0, -1), interrupted.journaled, `${where} journaled rows`, out);
    // and what was journaled is the job's own log so far: setup rows, then its steps in order
    const body = rows.slice(0, -1).filter((r) => r.startsWith(`${spec.name}-`));
    const all = spec.steps.flatMap((s, i) => expectedStep(spec, i, s)).filter((e): e is string => typeof e === "string" && e.startsWith(`${spec.name}-`));
    compareRows(body, all.slice(0, body.length), `${where} prefix`, out);
    if (body.length < all.length && interrupted.complete) {
      out.lost += all.length - body.length;
      out.problems.push(`${where}: ${all.length - body.length} rows printed before the kill are missing`);
    }
    return out;
  }
  const exp = expectedOutcome(spec);
  if (view.result !== exp.result) {
    out.wrong++;
    out.problems.push(`${where}: result ${view.result}, expected ${exp.result}`);
  }
  const stepResults = view.steps.map((s) => s.result ?? s.status);
  if (JSON.stringify(stepResults) !== JSON.stringify(exp.steps)) {
    out.wrong++;
    out.problems.push(`${where}: step results ${JSON.stringify(stepResults)}, expected ${JSON.stringify(exp.steps)}`);
  }
  if (JSON.stringify(sortKeys(view.outputs)) !== JSON.stringify(sortKeys(exp.outputs))) {
    out.wrong++;
    out.problems.push(`${where}: outputs ${JSON.stringify(view.outputs)}, expected ${JSON.stringify(exp.outputs)}`);
  }
  // setup rows, then the step windows back to back, then "Job <result>"
  const first = view.steps.find((s) => s.logLength > 0);
  const setupEnd = first ? first.logIndex : rows.length - 1;
  const setup = rows.slice(0, setupEnd);
  if (setup.length < 1 || !setup[0]!.startsWith("native-runner ")) {
    out.wrong++;
    out.problems.push(`${where}: setup rows ${JSON.stringify(setup.slice(0, 3))}`);
  }
  let at = setupEnd;
  for (let i = 0; i < spec.steps.length; i++) {
    const st = view.steps[i]!;
    if (exp.steps[i] === "skipped") {
      if (st.logLength !== 0) compareRows(rows.slice(st.logIndex, st.logIndex + st.logLength), [], `${where} skipped step ${i}`, out);
      continue;
    }
    if (st.logIndex !== at) {
      out.wrong++;
      out.problems.push(`${where}: step ${i} window starts at ${st.logIndex}, expected ${at}`);
    }
    const window = rows.slice(st.logIndex, st.logIndex + st.logLength);
    if (!window[0]?.startsWith("##[group]Run ")) out.problems.push(`${where}: step ${i} has no header`);
    compareRows(outputRows(window), expectedStep(spec, i, spec.steps[i]!), `${where} step ${i}`, out);
    at = st.logIndex + st.logLength;
  }
  compareRows(rows.slice(at), [exp.result === "success" ? "Job succeeded" : "Job failed"], `${where} closing rows`, out);
  return out;
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

// ---------------------------------------------------------------- the run

export interface SuiteOptions {
  jobs: number;
  capacity: number;
  seed: number;
  fetchInterval: string;
  reportInterval: string;
  /** Probability scale of the faults (1 = the default mix). */
  faultRate: number;
  maxLines?: number;
  /** Jobs interrupted by the kill -9 (they block until then). */
  blockers?: number;
  log?: (msg: string) => void;
  timeoutMs?: number;
}

export interface SuiteFigures {
  jobs: number;
  rows: number;
  faults: Record<string, number>;
  faultsFired: number;
  lost: number;
  duplicated: number;
  wrong: number;
  interrupted: number;
  /** Job processes alive after the kill -9, killed by the restarted daemon's recovery. */
  orphansKilled: number;
  problems: string[];
  seconds: number;
}

interface Daemon {
  child: ChildProcess;
  output(): string;
  exited: Promise<unknown>;
}

export function suiteConfig(env: TestEnv, o: SuiteOptions): string {
  return `
log:
  level: ${process.env.NR_TEST_LOG ?? "warn"}
  format: json
runner:
  file: ${join(env.dir, ".runner")}
  capacity: ${o.capacity}
  fetch_interval: ${o.fetchInterval}
  fetch_interval_max: ${o.fetchInterval}
  fetch_timeout: 5s
  report_interval: ${o.reportInterval}
  shutdown_timeout: 0s
  timeout: 1h
  report_retry:
    max_retries: 30
    initial_delay: 20ms
    max_delay: 500ms
host:
  workdir_parent: ${join(env.dir, "work")}
  isolation: none
cache:
  enabled: false
server:
  connections:
    emu:
      url: ${env.emu.url}
      uuid: ${env.uuid}
      token: ${env.token}
      labels: [native:host]
`;
}

async function startDaemonCli(env: TestEnv, cfgFile: string): Promise<Daemon> {
  const child = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "src/cli/entry.ts"), "daemon", "-c", cfgFile], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NR_TEST_LOG: "" },
  });
  let out = "";
  const keep = (c: Buffer) => {
    out += c.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise((res) => child.once("exit", res));
  return { child, output: () => out, exited };
}

function addFaults(emu: Emulator, rate: number): void {
  for (const rpc of ["FetchTask", "UpdateTask", "UpdateLog", "Declare"]) {
    emu.faults.add({ rpc, kind: "drop", probability: 0.03 * rate });
    emu.faults.add({ rpc, kind: "drop-response", probability: 0.04 * rate });
    emu.faults.add({ rpc, kind: "http5xx", probability: 0.05 * rate });
    emu.faults.add({ rpc, kind: "reset", probability: 0.02 * rate });
    emu.faults.add({ rpc, kind: "latency", probability: 0.05 * rate, latencyMs: 250 });
  }
}

/** Rows in a spool's journal (what the killed daemon had produced for that task). */
function journaledRows(spoolDir: string): string[] {
  const text = existsSync(join(spoolDir, "rows")) ? readFileSync(join(spoolDir, "rows"), "utf8") : "";
  return text.split("\n").filter((l) => l !== "").map((l) => (JSON.parse(l) as { c: string }).c);
}

export async function runFaultSuite(o: SuiteOptions): Promise<SuiteFigures> {
  const log = o.log ?? (() => {});
  const t0 = Date.now();
  const env = await setupEnv();
  const firstEmulator = env.emu;
  const closeEnv = async () => {
    if (env.emu !== firstEmulator) await env.emu.stop();
    await env.close();
  };
  const signalDir = join(env.dir, "signals");
  await mkdir(signalDir, { recursive: true });
  await mkdir(join(env.dir, "work"), { recursive: true });
  const cfgFile = join(env.dir, "config.yaml");
  await writeFile(cfgFile, suiteConfig(env, o));
  const specs = makeJobSpecs(o.jobs, o.seed, o.maxLines !== undefined ? { maxLines: o.maxLines } : {});
  const blockers: JobSpec[] = Array.from({ length: o.blockers ?? o.capacity }, (_, i) => ({
    name: `blocker${o.seed}x${i}`,
    steps: [{ type: "lines", n: 5 }, { type: "block", n: 20 + i * 30 }],
  }));
  const byJob = new Map<number, JobSpec>();
  const faultsFired: Record<string, number> = {};
  const countFaults = (emu: Emulator) => {
    for (const [k, v] of Object.entries(emu.faults.fired as Record<string, number>)) faultsFired[k] = (faultsFired[k] ?? 0) + v;
  };
  const enqueue = (spec: JobSpec) => {
    const { jobId } = env.emu.enqueue({ workflow: specWorkflow(spec, signalDir) });
    byJob.set(jobId, spec);
    return jobId;
  };
  const waitDone = async (ids: number[], what: string) => {
    const timeout = o.timeoutMs ?? 600_000;
    await waitUntil(() => ids.every((id) => env.emu.job(id)?.status === "done"), timeout, what);
  };

  let daemon = await startDaemonCli(env, cfgFile);
  const orphans: number[] = [];
  let recoveryOrder: string | undefined;
  const interrupted = new Map<number, string[]>();
  try {
    addFaults(env.emu, o.faultRate);
    const half = Math.floor(specs.length / 2);
    const quarter = Math.floor(half / 2);

    // phase 1: a quarter of the jobs, then the emulator restarts with the rest of the first half in flight
    const first = specs.slice(0, quarter).map(enqueue);
    await waitDone(first.slice(0, Math.floor(first.length / 2)), "first jobs done");
    const second = specs.slice(quarter, half).map(enqueue);
    await waitUntil(() => second.some((id) => env.emu.job(id)?.status === "running"), 120_000, "jobs running before the emulator restart");
    log("restarting the emulator");
    const port = env.emu.port;
    countFaults(env.emu);
    const snap = env.emu.snapshot();
    await env.emu.stop();
    await new Promise((r) => setTimeout(r, 300));
    env.emu = await startEmulator({ port, state: { ...snap, faults: [] } });
    addFaults(env.emu, o.faultRate);
    await waitDone([...first, ...second], "first half done");

    // phase 2: blocking jobs fill every slot; kill -9 while they run
    const blockIds = blockers.map(enqueue);
    await waitUntil(() => {
      if (daemon.child.exitCode !== null) throw new Error(`daemon exited:\n${daemon.output().slice(-3000)}`);
      return blockers.every((b) => existsSync(join(signalDir, b.name)));
    }, 120_000, "blocking jobs running");
    // every row the blockers printed has reached the journal: the daemon "produced" them
    const spoolRoot = join(env.dir, "spool");
    const lastRow = (b: JobSpec) => `${b.name}-s1-${(b.steps[1] as { n: number }).n}`;
    await waitUntil(() => {
      const journals = (existsSync(spoolRoot) ? readdirSync(spoolRoot) : []).map((d) => journaledRows(join(spoolRoot, d)));
      return blockers.every((b) => journals.some((j) => j.includes(lastRow(b))));
    }, 60_000, "blocking jobs' rows journaled in their spools");
    log("kill -9 of the daemon");
    daemon.child.kill("SIGKILL");
    await daemon.exited;
    // what each spool journaled before the kill, and the job processes left alive
    for (const dir of existsSync(spoolRoot) ? readdirSync(spoolRoot) : []) {
      const meta = JSON.parse(readFileSync(join(spoolRoot, dir, "meta.json"), "utf8")) as { taskId: string };
      const jobId = env.emu.jobs().find((j) => j.taskId === Number(meta.taskId))?.jobId;
      // a finished job whose last report was still being retried is not interrupted
      if (jobId !== undefined && env.emu.job(jobId)?.status !== "done") interrupted.set(jobId, journaledRows(join(spoolRoot, dir)));
    }
    for (const pid of execPs(env.dir)) orphans.push(pid);
    const restartedAt = Date.now();
    daemon = await startDaemonCli(env, cfgFile);
    const rest = specs.slice(half).map(enqueue);
    await waitDone(blockIds, "interrupted jobs reported");
    // recovery came first: no Declare/FetchTask of the new process before the interrupted tasks were closed
    const firstPoll = env.emu.requests().find((r) => r.time >= restartedAt && /(Declare|FetchTask)$/.test(r.rpc));
    const lastRecovered = Math.max(...blockIds.map((id) => env.emu.job(id)!.doneAt));
    if (firstPoll && firstPoll.time < lastRecovered) {
      recoveryOrder = `the restarted daemon polled (${firstPoll.rpc} at ${firstPoll.time}) before the interrupted tasks were reported (${lastRecovered})`;
    }
    await waitDone(rest, "second half done");
  } catch (err) {
    daemon.child.kill("SIGKILL");
    await daemon.exited;
    for (const pid of execPs(env.dir)) process.kill(pid, "SIGKILL");
    await closeEnv();
    throw Object.assign(err as Error, { daemonOutput: daemon.output().slice(-5000) });
  }
  daemon.child.kill("SIGKILL");
  await daemon.exited;
  countFaults(env.emu);

  const figures: SuiteFigures = {
    jobs: byJob.size,
    rows: 0,
    faults: faultsFired,
    faultsFired: Object.values(faultsFired).reduce((a, b) => a + b, 0),
    lost: 0,
    duplicated: 0,
    wrong: 0,
    interrupted: interrupted.size,
    orphansKilled: 0,
    problems: [],
    seconds: 0,
  };
  for (const [jobId, spec] of byJob) {
    const view = env.emu.job(jobId)!;
    const journaled = interrupted.get(jobId);
    const c = checkJob(spec, view, journaled ? { journaled, complete: blockers.includes(spec) } : undefined);
    figures.rows += c.rows;
    figures.lost += c.lost;
    figures.duplicated += c.duplicated;
    figures.wrong += c.wrong;
    figures.problems.push(...c.problems);
  }
  for (const b of blockers) {
    const id = [...byJob].find(([, s]) => s === b)![0];
    if (!interrupted.has(id)) {
      figures.wrong++;
      figures.problems.push(`${b.name}: no spool found after the kill`);
    }
  }
  if (recoveryOrder) {
    figures.wrong++;
    figures.problems.push(recoveryOrder);
  }
  if (orphans.length < blockers.length) {
    figures.wrong++;
    figures.problems.push(`only ${orphans.length} of ${blockers.length} blocking steps were still running after the kill -9`);
  }
  figures.orphansKilled = orphans.length;
  const survivors = orphans.filter((pid) => alive(pid));
  if (survivors.length > 0) {
    figures.wrong++;
    figures.problems.push(`processes of interrupted jobs still alive after recovery: ${survivors.join(", ")}`);
  }
  figures.seconds = Math.round((Date.now() - t0) / 100) / 10;
  for (const pid of survivors) process.kill(pid, "SIGKILL");
  await closeEnv();
  return figures;
}

/** Pids of the blocking steps' `sleep 317` (working below `dir`) right now. */
function execPs(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8");
      if (cmd === "sleep\u0000317\u0000" && readlinkSync(`/proc/${name}/cwd`).startsWith(dir + "/")) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

export function formatFigures(f: SuiteFigures): string {
  return [
    `jobs: ${f.jobs} (${f.interrupted} interrupted by kill -9; ${f.orphansKilled} of their processes outlived the daemon and were killed by recovery)`,
    `rows: ${f.rows}`,
    `faults fired: ${f.faultsFired} ${JSON.stringify(f.faults)}`,
    `lost rows: ${f.lost}`,
    `duplicated rows: ${f.duplicated}`,
    `wrong results: ${f.wrong}`,
    `time: ${f.seconds} s`,
  ].join("\n");
}
