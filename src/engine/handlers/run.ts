// `run:` steps: the script goes to a file in RUNNER_TEMP and the shell runs it.

import { mkdirSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { interpolate, withHashFiles } from "../../expressions/index.js";
import { randomUuid } from "../../host/index.js";
import { planShell, ShellError } from "../shells.js";
import { applyEffects, runStepProcess, stepPath } from "../step-process.js";
import type { HandlerResult, StepInvocation } from "./types.js";

export async function runScriptStep(inv: StepInvocation): Promise<HandlerResult> {
  const { rt, scope, step } = inv;
  const ctx = { contexts: inv.contexts, workspace: rt.sandbox.dirs.workspace };
  const fail = (message: string): HandlerResult => {
    rt.log.error(message);
    return { outcome: "failure", outputs: {} };
  };
  const rawShell = step.shell ?? (scope.kind === "job" ? scope.defaults?.shell : undefined);
  if (scope.kind === "composite" && (rawShell === undefined || rawShell === "")) {
    return fail("Required property is missing: shell");
  }
  const shell = rawShell === undefined ? undefined : await withHashFiles(() => interpolate(rawShell, ctx), inv.signal);
  const rawDir = step.workingDirectory ?? (scope.kind === "job" ? scope.defaults?.workingDirectory : undefined);
  const workspace = rt.sandbox.dirs.workspace;
  const cwd = rawDir === undefined ? workspace : resolveDir(workspace, await withHashFiles(() => interpolate(rawDir, ctx), inv.signal));
  const script = await withHashFiles(() => interpolate(step.run ?? "", ctx), inv.signal);

  let plan;
  try {
    plan = planShell(shell, stepPath(rt, inv.env), (ext) => join(rt.sandbox.dirs.temp, `${randomUuid()}${ext}`), rt.sandbox.findProgram?.bind(rt.sandbox));
  } catch (e) {
    if (e instanceof ShellError) return fail(e.message);
    throw e;
  }
  const scriptPath = plan.scriptPath;
  const header = `${plan.file} ${plan.args.join(" ")}`;
  rt.log.write(`##[group]Run ${firstLine(script)}`);
  for (const line of script.replace(/\n$/, "").split("\n")) rt.log.write(line);
  rt.log.write(`shell: ${header.replace(scriptPath, "{0}")}`);
  const stepEnvKeys = Object.keys(step.env ?? {});
  if (stepEnvKeys.length) {
    rt.log.write("env:");
    for (const k of stepEnvKeys) rt.log.write(`  ${k}: ${inv.env[k] ?? ""}`);
  }
  rt.log.write("##[endgroup]");

  if (!isDirectory(cwd)) {
    return fail(`An error occurred trying to start process '${plan.file}' with working directory '${cwd}'. No such file or directory`);
  }
  const target = scriptPath;
  writeScript(target, plan.wrap(script), rt.sandbox.dirs.temp);
  try {
    const res = await runStepProcess(
      rt,
      { file: plan.file, args: plan.args, cwd, env: inv.env, extraEnv: { GITHUB_ACTION: inv.id, FORGEJO_ACTION: inv.id, ...actionPathEnv(inv) } },
      inv.signal,
    );
    const outputs = applyEffects(rt, res.effects, undefined);
    if (!res.exit) return { outcome: "failure", outputs };
    if (res.exit.code !== 0 && !inv.signal.aborted) {
      rt.log.error(
        res.exit.code === null ? `Process was killed by signal ${res.exit.signal ?? "?"}.` : `Process completed with exit code ${res.exit.code}.`,
      );
    }
    const ok = res.exit.code === 0 && !res.commandFailed;
    return { outcome: ok ? "success" : "failure", outputs };
  } finally {
    removeFile(target);
  }
}

/** Writes the step's script; RUNNER_TEMP is made again only when a step removed it. */
function writeScript(target: string, text: string, temp: string): void {
  try {
    writeFileSync(target, text, { mode: 0o644 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    mkdirSync(temp, { recursive: true });
    writeFileSync(target, text, { mode: 0o644 });
  }
}

function removeFile(p: string): void {
  try {
    unlinkSync(p);
  } catch {
    // already gone
  }
}

function actionPathEnv(inv: StepInvocation): Record<string, string> {
  const a = inv.scope.action;
  if (!a) return {};
  return { GITHUB_ACTION_PATH: a.prepared.dir, FORGEJO_ACTION_PATH: a.prepared.dir };
}

function resolveDir(workspace: string, dir: string): string {
  return isAbsolute(dir) ? dir : resolve(workspace, dir);
}

function firstLine(script: string): string {
  return script.trimStart().split("\n")[0] ?? "";
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
