// `native-runner validate`: the same checks exec runs before starting jobs,
// for workflows (and the local workflows they call) and action.yml files, in
// a directory or in a fresh clone of a repository.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseActionMetadata } from "../actions/index.js";
import { formatWorkflowError, type WorkflowError } from "../workflow/index.js";
import { defaultWorkflowDir, displayPath, findWorkflowFiles, loadWorkflowSet } from "./workflow-files.js";

export interface ValidateOptions {
  /** File or directory; default: the workflow directory and every action.yml under the repository. */
  path?: string;
  /** Repository root (default: the current directory). */
  directory?: string;
  kind?: "workflow" | "action";
  /** A git URL (or path) to clone and validate instead of `directory`. */
  repository?: string;
  /** Where to clone `repository` (kept); an existing directory is used as it is. Default: a temporary directory, removed. */
  clonedir?: string;
}

interface Target {
  file: string;
  kind: "workflow" | "action";
}

/** Prints one line per error (or per valid file) and returns the exit code. */
export function runValidate(o: ValidateOptions, out: (s: string) => void, err: (s: string) => void): number {
  if (o.repository !== undefined && o.directory !== undefined) {
    err("validate: use --repository or --directory, not both\n");
    return 1;
  }
  let root = path.resolve(o.directory ?? ".");
  let cleanup: string | undefined;
  if (o.repository !== undefined) {
    const cloned = cloneRepository(o.repository, o.clonedir, err);
    if (cloned === undefined) return 1;
    root = cloned.dir;
    cleanup = cloned.temporary;
  }
  try {
    return validateIn(root, o, out, err);
  } finally {
    if (cleanup) rmSync(cleanup, { recursive: true, force: true });
  }
}

function validateIn(root: string, o: ValidateOptions, out: (s: string) => void, err: (s: string) => void): number {
  let targets: Target[];
  try {
    targets = o.path !== undefined ? namedTargets(root, o.path, o.kind) : repositoryTargets(root, o.kind);
  } catch (e) {
    err(`validate: ${(e as Error).message}\n`);
    return 1;
  }
  const errors: WorkflowError[] = [];
  const workflows = targets.filter((t) => t.kind === "workflow").map((t) => t.file);
  if (workflows.length > 0) errors.push(...loadWorkflowSet(root, workflows).errors);
  for (const t of targets) {
    if (t.kind !== "action") continue;
    errors.push(...parseActionMetadata(readFileSync(t.file, "utf8"), displayPath(root, t.file)).errors);
  }
  for (const e of errors) err(`${formatWorkflowError(e)}\n`);
  const bad = new Set(errors.map((e) => e.file));
  for (const t of targets) {
    const display = displayPath(root, t.file);
    if (!bad.has(display)) out(`${display}: valid ${t.kind}\n`);
  }
  return errors.length > 0 ? 1 : 0;
}

/** `--path`: a file or a directory, its kind from the flags or the file name. */
function namedTargets(root: string, p: string, kind: ValidateOptions["kind"]): Target[] {
  const files = kind === "action" ? findActionFiles(root, path.resolve(root, p), undefined) : findWorkflowFiles(root, p);
  return files.map((file) => ({ file, kind: kind ?? (/^action\.ya?ml$/.test(path.basename(file)) ? "action" : "workflow") }));
}

/** A whole repository: the workflow directory the server would read, and every action.yml outside it. */
function repositoryTargets(root: string, kind: ValidateOptions["kind"]): Target[] {
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new Error(`${root}: not a directory`);
  const wfDir = defaultWorkflowDir(root);
  const targets: Target[] = [];
  if (kind !== "action" && wfDir !== undefined) {
    for (const file of findWorkflowFiles(root)) targets.push({ file, kind: "workflow" });
  }
  if (kind !== "workflow") {
    const skip = wfDir !== undefined ? path.join(root, wfDir) : undefined;
    for (const file of findActionFiles(root, root, skip, true)) targets.push({ file, kind: "action" });
  }
  if (targets.length === 0) {
    const what = kind === "action" ? "action.yml files" : kind === "workflow" ? "workflows" : "workflows or action.yml files";
    throw new Error(`no ${what} found under ${root}`);
  }
  return targets;
}

function findActionFiles(root: string, target: string, skipDir: string | undefined, emptyOk = false): string[] {
  if (!existsSync(target)) throw new Error(`${displayPath(root, target)}: no such file or directory`);
  if (!statSync(target).isDirectory()) return [target];
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    for (const name of readdirSync(dir).sort()) {
      if (name === ".git" || name === "node_modules") continue;
      const full = path.join(dir, name);
      if (full === skipDir) continue;
      const st = statSync(full, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory() && depth < 8) walk(full, depth + 1);
      else if (st.isFile() && /^action\.ya?ml$/.test(name)) out.push(full);
    }
  };
  walk(target, 0);
  if (out.length === 0 && !emptyOk) throw new Error(`no action.yml or action.yaml under ${target}`);
  return out;
}

/** `git clone --depth=1`, as forgejo-runner's validate does; an existing clone directory is validated as it is. */
function cloneRepository(
  repository: string,
  clonedir: string | undefined,
  err: (s: string) => void,
): { dir: string; temporary?: string } | undefined {
  let temporary: string | undefined;
  let dir: string;
  if (clonedir !== undefined) {
    dir = path.resolve(clonedir);
    if (existsSync(dir)) return { dir };
  } else {
    temporary = mkdtempSync(path.join(os.tmpdir(), "native-runner-validate-"));
    dir = path.join(temporary, "clone");
  }
  const res = spawnSync("git", ["clone", "--quiet", "--depth=1", repository, dir], {
    encoding: "utf8",
    env: { ...process.env, GIT_TERMINAL_PROMPT: "0" },
  });
  if (res.status !== 0) {
    const why = res.error ? res.error.message : (res.stderr || res.stdout || "").trim();
    err(`validate: git clone ${repository} failed: ${why}\n`);
    if (temporary) rmSync(temporary, { recursive: true, force: true });
    return undefined;
  }
  return temporary ? { dir, temporary } : { dir };
}
