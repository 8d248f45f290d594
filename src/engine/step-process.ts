// Runs one process of a step (a shell script, a node action, ...) through the
// job sandbox, with fresh file-command files and the step's log pipeline.

import type { ExitStatus, SpawnSpec } from "../host/sandbox.js";
import { StepFiles, type FileCommandEffects } from "./file-commands.js";
import type { JobRuntime } from "./job-runtime.js";
import { StepOutput } from "./step-output.js";

export interface StepProcessSpec {
  file: string;
  args: string[];
  cwd: string;
  /** The step's env context (workflow/job/GITHUB_ENV/step env). */
  env: Record<string, string>;
  /** Runner-set per-step variables (GITHUB_ACTION, INPUT_*, STATE_*, ...). */
  extraEnv?: Record<string, string>;
  /** A docker action's image: the process runs in a container of it. */
  image?: SpawnSpec["image"];
}

export interface StepProcessResult {
  /** undefined when the process could not be started. */
  exit?: ExitStatus;
  /** True when a workflow command or a file command failed. */
  commandFailed: boolean;
  effects: FileCommandEffects;
}

// The runner-set part of every step's environment, built once per job. Kept
// as entry lists: copying them in a loop is several times cheaper than
// spreading a 100-key object for every step.
interface StaticEnv {
  base: Record<string, string>;
  baseEntries: Array<[string, string]>;
  fixedEntries: Array<[string, string]>;
}
const staticEnvs = new WeakMap<JobRuntime, StaticEnv>();
/** The last step's files, whose empty ones the next step reuses. */
const previousFiles = new WeakMap<JobRuntime, StepFiles>();

function staticParts(rt: JobRuntime): StaticEnv {
  let parts = staticEnvs.get(rt);
  if (!parts) {
    const base = { ...rt.sandbox.baseEnv, ...(rt.req.runnerEnv ?? {}), ...rt.runnerVars };
    // GitHub: the default GITHUB_* and RUNNER_* variables cannot be overwritten
    // by a workflow (CI can); Forgejo does the same for FORGEJO_*.
    const fixedEntries = Object.entries(rt.runnerVars).filter(([k]) => /^(GITHUB|RUNNER|FORGEJO)_/.test(k));
    parts = { base, baseEntries: Object.entries(base), fixedEntries };
    staticEnvs.set(rt, parts);
  }
  return parts;
}

export function processEnv(rt: JobRuntime, env: Record<string, string>, extra: Record<string, string>): Record<string, string> {
  const parts = staticParts(rt);
  const out: Record<string, string> = {};
  for (const [k, v] of parts.baseEntries) out[k] = v;
  for (const k of Object.keys(env)) out[k] = env[k]!;
  for (const [k, v] of parts.fixedEntries) out[k] = v;
  for (const k of Object.keys(extra)) out[k] = extra[k]!;
  out["PATH"] = withAddedPath(rt, out["PATH"]);
  return out;
}

/** The PATH a step process sees (for looking up shells and node). */
export function stepPath(rt: JobRuntime, env: Record<string, string>): string {
  return withAddedPath(rt, env["PATH"] ?? staticParts(rt).base["PATH"]);
}

function withAddedPath(rt: JobRuntime, base: string | undefined): string {
  const basePath = base ?? rt.sandbox.baseEnv["PATH"] ?? "/usr/bin:/bin";
  if (rt.prependPath.length === 0) return basePath;
  return [...rt.prependPath].reverse().concat(basePath).join(":");
}

export async function runStepProcess(rt: JobRuntime, spec: StepProcessSpec, signal: AbortSignal): Promise<StepProcessResult> {
  const files = StepFiles.create(rt.sandbox.dirs.temp, previousFiles.get(rt));
  previousFiles.set(rt, files);
  const env = processEnv(rt, spec.env, { ...(spec.extraEnv ?? {}), ...files.env() });
  const output = new StepOutput(rt.log, {
    debug: rt.debug,
    unsecureAllowed: env["ACTIONS_ALLOW_UNSECURE_COMMANDS"] === "true",
  });
  let exit: ExitStatus | undefined;
  try {
    exit = await rt.sandbox.spawn(
      { file: spec.file, args: spec.args, cwd: spec.cwd, env, ...(spec.image ? { image: spec.image } : {}) },
      { onStdout: output.onStdout, onStderr: output.onStderr },
      signal,
    );
  } catch (e) {
    rt.log.error(`Failed to start '${spec.file}': ${(e as Error).message}`);
  }
  output.finish();
  const { effects, errors } = files.read();
  files.remove();
  for (const e of errors) rt.log.error(e);
  // Deprecated workflow commands come before the file commands of the same step.
  const c = output.effects;
  effects.outputs.unshift(...c.outputs);
  effects.state.unshift(...c.state);
  effects.env.unshift(...c.env);
  effects.path.unshift(...c.path);
  const result: StepProcessResult = { commandFailed: c.failed || errors.length > 0, effects };
  if (exit) result.exit = exit;
  return result;
}

/** Applies what a step wrote to its file commands (outputs are returned to the caller). */
export function applyEffects(rt: JobRuntime, effects: FileCommandEffects, state: Record<string, string> | undefined): Record<string, string> {
  for (const [k, v] of effects.env) {
    if (k === "NODE_OPTIONS") {
      rt.log.error("Can't store NODE_OPTIONS output parameter using '$GITHUB_ENV' command.");
      continue;
    }
    rt.globalEnv[k] = v;
  }
  for (const p of effects.path) {
    const i = rt.prependPath.indexOf(p);
    if (i >= 0) rt.prependPath.splice(i, 1);
    rt.prependPath.push(p);
  }
  if (state) for (const [k, v] of effects.state) state[k] = v;
  if (effects.summary !== undefined) rt.summaries.push(effects.summary);
  if (effects.summaryError !== undefined) rt.log.error(effects.summaryError);
  const outputs: Record<string, string> = {};
  for (const [k, v] of effects.outputs) outputs[k] = v;
  return outputs;
}
