// `native-runner exec`: pre-flight (find, parse and validate workflows),
// then the orchestrator with the real engine, a printer, and Ctrl-C handling.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseDotenv } from "../config/index.js";
import type { JobOutcome, JobRequest, RunJobOptions } from "../engine/job-request.js";
import { runJob as engineRunJob } from "../engine/index.js";
import { PlainBackend, randomHex } from "../host/index.js";
import { platformLabel } from "../container/job-platform.js";
import { execContainerRuntime, lazyRuntime, type ExecContainerFlags } from "../container/exec-runtime.js";
import { routeJobs } from "../container/route-job.js";
import type { Label } from "../config/labels.js";
import type { HostBackend } from "../host/sandbox.js";
import { formatWorkflowError, parseTaskPayload, InputError, typeCallInputs, typeDispatchInputs } from "../workflow/index.js";
import { ConsolePrinter } from "./console-printer.js";
import { readRepoInfoAsync } from "./git-info.js";
import { JsonPrinter } from "./json-printer.js";
import { Orchestrator, aggregate, type NodeResult, type RunJobFn } from "./orchestrator.js";
import { Semaphore } from "./semaphore.js";
import { defaultEvent, type RunInfo } from "./task-context.js";
import { findWorkflowFiles, loadWorkflowSet, reachableFiles, type LoadedWorkflow } from "./workflow-files.js";

/** The container flags (`--container-daemon-socket`, `--network`, …) are ExecContainerFlags. */
export interface ExecOptions extends ExecContainerFlags {
  workflows?: string;
  /** Workflows in subdirectories of the workflow directory too (default true; `--no-recurse`). */
  recurse?: boolean;
  job?: string;
  /** Event name; default `push` (or, for a single `-W` file without `push`, its first event). */
  eventName?: string;
  eventFile?: string;
  secrets: string[];
  secretFile?: string;
  vars: string[];
  inputs: string[];
  env: string[];
  directory: string;
  json: boolean;
  list: boolean;
  dryrun: boolean;
  defaultActionsUrl: string;
  actionCacheOffline: boolean;
  concurrency?: number;
  /** `-P label=image`: runs-on labels mapped to container images (`-self-hosted`: the host). */
  platforms?: string[];
  /** Run actions/checkout of the repository being run (it would work on the user's working copy). */
  noSkipCheckout?: boolean;
  /**
   * Dotenv file whose variables every job gets, like `--env` (which wins).
   * Relative to the repository root; `.env` when not given, read only if it exists.
   */
  envFile?: string;
  /** Debug logging in every job (as ACTIONS_STEP_DEBUG). */
  debug?: boolean;
  /** Without -E: the first event of the first workflow instead of `push`. */
  detectEvent?: boolean;
  /** Do not mask secret values in the log. */
  insecureSecrets?: boolean;
  /** `-i`: image for jobs whose runs-on no -P names (default: they run on the host). */
  image?: string;
}

export interface ExecIo {
  stdout: (s: string) => void;
  /** `prefix`, `line` and a newline to stdout (a writer that encodes runs of lines together); else through `stdout`. */
  stdoutLine?: (prefix: string, line: string) => void;
  stderr: (s: string) => void;
  color: boolean;
  signal: AbortSignal;
  /** Test seam: defaults to the engine's runJob. */
  runJob?: RunJobFn;
  host?: HostBackend;
}

/** Runs exec and returns the process exit code. */
export async function runExec(o: ExecOptions, io: ExecIo): Promise<number> {
  const root = path.resolve(o.directory);
  const repoInfo = readRepoInfoAsync(root);
  let files: string[];
  try {
    files = findWorkflowFiles(root, o.workflows, { recurse: o.recurse ?? true });
  } catch (err) {
    io.stderr(`exec: ${(err as Error).message}\n`);
    return 1;
  }
  const set = loadWorkflowSet(root, files);
  if (set.errors.length > 0) {
    io.stderr("exec: invalid workflow, nothing was run:\n");
    for (const e of set.errors) io.stderr(`${formatWorkflowError(e)}\n`);
    return 1;
  }

  const eventName = o.eventName ?? pickEvent(set.workflows, o, io.stderr);

  let selected: LoadedWorkflow[];
  if (o.job) {
    selected = set.workflows.filter((w) => w.model.jobs.some((j) => j.id === o.job));
    if (selected.length === 0) {
      io.stderr(`exec: no job '${o.job}' in ${files.map((f) => path.relative(root, f)).join(", ")}\n`);
      return 1;
    }
  } else {
    selected = set.workflows.filter((w) => w.model.events.includes(eventName));
  }

  if (o.list) {
    printList(o.job ? selected : set.workflows, io.stdout);
    return 0;
  }
  if (selected.length === 0) {
    io.stderr(`exec: no workflow is triggered by '${eventName}' (use -E to pick another event, or -j to run one job)\n`);
    return 0;
  }
  const remote = [...reachableFiles(selected, set, root)].flatMap((f) => set.remoteCalls.get(f) ?? []);
  if (remote.length > 0) {
    io.stderr("exec: cannot run these workflows, nothing was run:\n");
    for (const e of remote) io.stderr(`${formatWorkflowError(e)}\n`);
    return 1;
  }

  let platforms: Label[];
  try {
    platforms = (o.platforms ?? []).map(platformLabel);
  } catch (err) {
    io.stderr(`exec: ${(err as Error).message}\n`);
    return 1;
  }

  let secrets: Record<string, string>;
  let vars: Record<string, string>;
  let env: Record<string, string>;
  let givenInputs: Record<string, string>;
  let event: Record<string, unknown> | undefined;
  try {
    secrets = {};
    if (o.secretFile) Object.assign(secrets, parseDotenv(readFileSync(o.secretFile, "utf8")));
    Object.assign(secrets, parsePairs(o.secrets, "-s", true));
    vars = parsePairs(o.vars, "--var", false);
    env = { ...readEnvFile(root, o.envFile), ...parsePairs(o.env, "--env", false) };
    givenInputs = parsePairs(o.inputs, "--input", false);
    if (o.eventFile) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(readFileSync(o.eventFile, "utf8"));
      } catch (err) {
        throw new Error(`${o.eventFile}: ${(err as Error).message}`);
      }
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error(`${o.eventFile}: the event must be a JSON object`);
      event = parsed as Record<string, unknown>;
    }
  } catch (err) {
    io.stderr(`exec: ${(err as Error).message}\n`);
    return 1;
  }

  const repo = await repoInfo;
  const token = randomHex(20);
  const counter = nextRunNumber();
  const eventInputs = event && typeof event.inputs === "object" && event.inputs ? (event.inputs as Record<string, unknown>) : {};
  const mergedInputs: Record<string, string> = { ...stringValues(eventInputs), ...givenInputs };

  // Typed workflow_dispatch inputs, per workflow.
  const inputsFor = new Map<LoadedWorkflow, Record<string, unknown>>();
  const eventFor = new Map<LoadedWorkflow, Record<string, unknown>>();
  try {
    for (const w of selected) {
      if (eventName === "workflow_dispatch") {
        const { typed, strings } = typeDispatchInputs(w.model.dispatchInputs, mergedInputs);
        inputsFor.set(w, typed);
        eventFor.set(w, event ? { ...event, inputs: { ...stringValues(eventInputs), ...strings } } : defaultEvent(eventName, repo, strings));
      } else if (eventName === "workflow_call") {
        // A reusable workflow run on its own: --input plays the caller's `with:`.
        inputsFor.set(w, typeCallInputs(w.model.callInputs, givenInputs));
        eventFor.set(w, event ?? defaultEvent(eventName, repo, {}));
      } else {
        if (Object.keys(givenInputs).length > 0) throw new InputError("--input only applies to workflow_dispatch and workflow_call runs");
        inputsFor.set(w, {});
        eventFor.set(w, event ?? defaultEvent(eventName, repo, {}));
      }
    }
  } catch (err) {
    io.stderr(`exec: ${(err as Error).message}\n`);
    return 1;
  }

  for (const k of ["GITHUB_TOKEN", "GITEA_TOKEN", "FORGEJO_TOKEN"]) secrets[k] ??= token;

  const printer = o.json ? new JsonPrinter(io.stdout) : new ConsolePrinter({ write: io.stdout, ...(io.stdoutLine ? { writeLine: io.stdoutLine } : {}), color: io.color });
  const workdir = mkdtempSync(path.join(os.tmpdir(), "native-runner-exec-"));
  const host = io.host ?? new PlainBackend(workdir);
  const runJob = routeJobs(o.dryrun ? dryRunJob : (io.runJob ?? engineRunJob), {
    labels: platforms,
    unmatched: o.image ? "container" : "host",
    ...(o.image ? { defaultImage: o.image } : {}),
    runtime: lazyRuntime(() => execContainerRuntime(o, workdir, [actionCacheDir()])),
    who: "exec",
  });

  const results: NodeResult[] = [];
  const concurrency = o.concurrency ?? Math.max(1, os.availableParallelism());
  const slots = new Semaphore(concurrency);
  try {
    await Promise.all(
      selected.map(async (w) => {
        const run: RunInfo = {
          repo,
          eventName,
          event: eventFor.get(w)!,
          runId: counter,
          runNumber: counter,
          token,
          runtimeToken: randomHex(20),
          defaultActionsUrl: o.defaultActionsUrl.replace(/\/+$/, ""),
        };
        const orchestrator = new Orchestrator({
          workspaceDir: root,
          run,
          secrets,
          vars,
          runnerEnv: env,
          concurrency,
          slots,
          runJob,
          host,
          observer: printer,
          signal: io.signal,
          runnerName: `native-runner-exec@${os.hostname()}`,
          workflowsByPath: set.called,
          requestExtras: {
            actionCacheDir: actionCacheDir(),
            actionCacheOffline: o.actionCacheOffline,
            extraMasks: [run.runtimeToken],
            protectWorkingCopy: !o.noSkipCheckout,
            ...(o.debug ? { debug: true } : {}),
            ...(o.insecureSecrets ? { insecureSecrets: true } : {}),
          },
        });
        const multi = selected.length > 1;
        const byJob = await orchestrator.runWorkflow(w, inputsFor.get(w)!, {
          ...(o.job ? { only: [o.job] } : {}),
          keyPrefix: multi ? `${w.name.replace(/\.ya?ml$/, "")}.` : "",
          namePrefix: multi ? `${w.model.name ?? w.name} / ` : "",
        });
        results.push(...Object.values(byJob));
      }),
    );
  } finally {
    rmSync(workdir, { recursive: true, force: true });
  }
  const overall = io.signal.aborted ? "cancelled" : aggregate(results).result;
  printer.runFinished(overall);
  // A dry run has no outputs, so jobs that depend on them may fail to plan; that is not a failure of the workflow.
  if (o.dryrun) return io.signal.aborted ? 130 : 0;
  if (overall === "failure") return 1;
  if (overall === "cancelled") return 130;
  return 0;
}

/**
 * The event when -E is not given, as forgejo-runner exec picks it: the only
 * event the workflows have, else (--detect-event) the first one, else push.
 * A single -W file that push does not trigger runs as its first event.
 */
function pickEvent(workflows: LoadedWorkflow[], o: ExecOptions, note: (s: string) => void): string {
  const events = [...new Set(workflows.flatMap((w) => w.model.events))];
  const first = (w: LoadedWorkflow) => w.model.events.find((e) => e !== "workflow_call") ?? w.model.events[0];
  if (events.length === 1) {
    note(`exec: using the only event the workflows have: '${events[0]}' (use -E to choose)\n`);
    return events[0]!;
  }
  if (o.detectEvent) {
    const picked = workflows.map(first).find((e) => e !== undefined);
    if (picked) {
      note(`exec: using the first event of ${workflows.find((w) => first(w) === picked)!.name}: '${picked}' (use -E to choose)\n`);
      return picked;
    }
  }
  const single = workflows.length === 1 ? workflows[0]! : undefined;
  if (o.workflows !== undefined && single && !single.model.events.includes("push")) {
    const picked = first(single);
    if (picked) {
      note(`exec: ${single.name} is not triggered by push; running it as '${picked}' (use -E to choose)\n`);
      return picked;
    }
  }
  return "push";
}

/** `--env-file`: a dotenv file; the default `.env` is optional, a named file must exist. */
function readEnvFile(root: string, file: string | undefined): Record<string, string> {
  const p = path.resolve(root, file ?? ".env");
  let text: string;
  try {
    text = readFileSync(p, "utf8");
  } catch (err) {
    if (file === undefined && (err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new Error(`--env-file ${file ?? ".env"}: ${(err as Error).message}`);
  }
  return parseDotenv(text);
}

function parsePairs(items: string[], flag: string, fromEnv: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq < 0) {
      if (fromEnv && process.env[item] !== undefined) {
        out[item] = process.env[item]!;
        continue;
      }
      throw new Error(`${flag} ${item}: expected NAME=VALUE`);
    }
    const name = item.slice(0, eq);
    if (!name) throw new Error(`${flag} ${item}: the name is empty`);
    out[name] = item.slice(eq + 1);
  }
  return out;
}

function stringValues(o: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
}

function stateDir(): string {
  return path.join(process.env.XDG_STATE_HOME || path.join(os.homedir(), ".local", "state"), "native-runner");
}

function actionCacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "native-runner", "actions");
}

/** run_id / run_number for exec: a counter kept in the user's state directory (1 when it cannot be kept). */
function nextRunNumber(): number {
  const file = path.join(stateDir(), "exec-run-number");
  try {
    const prev = Number.parseInt(readFileSync(file, "utf8"), 10);
    const next = Number.isFinite(prev) && prev > 0 ? prev + 1 : 1;
    writeFileSync(file, String(next));
    return next;
  } catch {
    try {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, "1");
    } catch {
      // A read-only home is fine.
    }
    return 1;
  }
}

function printList(workflows: LoadedWorkflow[], out: (s: string) => void): void {
  const rows: string[][] = [["WORKFLOW", "JOB", "NAME", "NEEDS", "EVENTS"]];
  for (const w of workflows) {
    for (const j of w.model.jobs) {
      rows.push([w.name, j.id, j.name ?? j.id, j.needs.join(",") || "-", w.model.events.join(",")]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ") + "\n");
}

/** `--dryrun`: reports every step as successful without running anything. */
async function dryRunJob(req: JobRequest, opts: RunJobOptions): Promise<JobOutcome> {
  const parsed = parseTaskPayload(req.workflowYaml, req.workflowFile);
  const now = () => new Date();
  if (!parsed.value) {
    for (const e of parsed.errors) opts.emit({ type: "log", time: now(), line: formatWorkflowError(e), stage: "setup" });
    opts.emit({ type: "job-finished", time: now(), result: "failure", outputs: {} });
    return { result: "failure", outputs: {} };
  }
  for (const step of parsed.value.job.steps) {
    const id = step.id ?? `__step_${step.index}`;
    const name = step.name ?? (step.run !== undefined ? `Run ${step.run.split("\n")[0]}` : `Run ${step.uses ?? ""}`);
    opts.emit({ type: "step-started", time: now(), index: step.index, id, name });
    opts.emit({ type: "log", time: now(), line: "(dry run)", stage: "step", stepIndex: step.index });
    opts.emit({ type: "step-finished", time: now(), index: step.index, id, outcome: "success", conclusion: "success", outputs: {} });
  }
  opts.emit({ type: "job-finished", time: now(), result: "success", outputs: {} });
  return { result: "success", outputs: {} };
}
