import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import type { JobModel, WorkflowError, WorkflowModel } from "../workflow/model.js";
import { parseWorkflow, pathPosition } from "../workflow/index.js";

export interface LoadedWorkflow {
  /** Absolute path. */
  path: string;
  /** File name (`ci.yml`), what Forgejo puts in `github.workflow`. */
  name: string;
  /** Directory relative to the repository root (`.forgejo/workflows`), for `workflow_ref`. */
  dir: string;
  model: WorkflowModel;
  /** The file as plain YAML data (used to write each job's payload). */
  raw: Record<string, unknown>;
  /** The file's text, for error positions. */
  text: string;
}

/**
 * Where the server looks, in its order: the first of these directories that
 * exists holds the repository's workflows (Forgejo; Gitea has no `.forgejo`).
 */
export const DEFAULT_WORKFLOW_DIRS = [".forgejo/workflows", ".gitea/workflows", ".github/workflows"];

export interface FindOptions {
  /** Also files in subdirectories (default true: the server and forgejo-runner both descend). */
  recurse?: boolean;
}

/** The repository's workflow directory (relative), as the server picks it; undefined when there is none. */
export function defaultWorkflowDir(root: string): string | undefined {
  return DEFAULT_WORKFLOW_DIRS.find((d) => isDir(path.join(root, d)));
}

/** Workflow files named by `-W` (a file or a directory), else those of the default directory under `root`. */
export function findWorkflowFiles(root: string, w?: string, opts: FindOptions = {}): string[] {
  const recurse = opts.recurse ?? true;
  if (w !== undefined) {
    // Relative to the repository root first, then to the current directory.
    const p = [path.resolve(root, w), path.resolve(w)].find((c) => existsSync(c));
    if (!p) throw new Error(`${w}: no such file or directory`);
    return statSync(p).isDirectory() ? listYaml(p, recurse) : [p];
  }
  const dir = defaultWorkflowDir(root);
  if (dir === undefined) {
    throw new Error(`no workflows found: none of ${DEFAULT_WORKFLOW_DIRS.join(", ")} exists under ${root}`);
  }
  const files = listYaml(path.join(root, dir), recurse);
  if (files.length === 0) throw new Error(`no workflows found in ${path.join(root, dir)} (the first of ${DEFAULT_WORKFLOW_DIRS.join(", ")} that exists is the one used)`);
  return files;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function listYaml(dir: string, recurse: boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    const st = statSync(full, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) {
      if (recurse) out.push(...listYaml(full, true));
    } else if (st.isFile() && /\.ya?ml$/.test(name)) {
      out.push(full);
    }
  }
  return out;
}

/** Reads and validates one workflow file. */
export function loadWorkflowFile(root: string, file: string): { value?: LoadedWorkflow; errors: WorkflowError[] } {
  const display = displayPath(root, file);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    return { errors: [{ file: display, message: `cannot read the workflow: ${(err as Error).message}` }] };
  }
  const parsed = parseWorkflow(display, text);
  if (!parsed.value) return { errors: parsed.errors };
  // A copy of its own: the model may hold parts of the data it was built from.
  const raw = parsed.data!() as Record<string, unknown>;
  const rel = path.relative(root, path.dirname(file));
  return {
    value: {
      path: file,
      name: path.basename(file),
      dir: rel.startsWith("..") ? path.dirname(file) : rel || ".",
      model: parsed.value,
      raw,
      text,
    },
    errors: [],
  };
}

/** How a file is named in messages: relative to the repository root when inside it. */
export function displayPath(root: string, file: string): string {
  const rel = path.relative(root, file);
  return rel === "" ? path.basename(file) : rel.startsWith("..") ? file : rel;
}

/** Resolves a local reusable-workflow reference (`./.forgejo/workflows/x.yml`) against the repository root. */
export function resolveCalledWorkflow(root: string, uses: string): { path?: string; error?: string; remote?: boolean } {
  if (!uses.startsWith("./")) {
    return { remote: true, error: `reusable workflow '${uses}': only local references (./path/to/workflow.yml) are supported by exec` };
  }
  const clean = uses.replace(/@.*$/, "");
  const p = path.resolve(root, clean);
  if (!p.startsWith(path.resolve(root) + path.sep)) return { error: `reusable workflow '${uses}' is outside the repository` };
  if (!existsSync(p)) return { error: `reusable workflow '${uses}' not found` };
  return { path: p };
}

export interface WorkflowSet {
  /** The files asked for, loaded (invalid ones left out). */
  workflows: LoadedWorkflow[];
  /** Every loaded workflow by absolute path, called ones included. */
  called: Map<string, LoadedWorkflow>;
  /** Problems that make a file invalid: exec refuses to start when there is any. */
  errors: WorkflowError[];
  /**
   * Calls of remote reusable workflows, by the absolute path of the calling
   * file: valid workflows, but exec cannot run those jobs.
   */
  remoteCalls: Map<string, WorkflowError[]>;
}

/**
 * Loads the given workflow files and every local workflow they call
 * (recursively), collecting all errors.
 */
export function loadWorkflowSet(root: string, files: string[]): WorkflowSet {
  const errors: WorkflowError[] = [];
  const remoteCalls = new Map<string, WorkflowError[]>();
  const workflows: LoadedWorkflow[] = [];
  const called = new Map<string, LoadedWorkflow>();
  const seen = new Set<string>();
  const visit = (file: string, top: boolean, depth: number) => {
    if (seen.has(file)) {
      if (top) {
        const existing = called.get(file);
        if (existing) workflows.push(existing);
      }
      return;
    }
    seen.add(file);
    const r = loadWorkflowFile(root, file);
    errors.push(...r.errors);
    if (!r.value) return;
    if (top) workflows.push(r.value);
    called.set(file, r.value);
    const wf = r.value;
    const display = displayPath(root, file);
    for (const job of wf.model.jobs) {
      if (!job.uses) continue;
      const at = { file: display, ...pathPosition(wf.text, ["jobs", job.id, "uses"]) };
      const res = resolveCalledWorkflow(root, job.uses);
      if (res.remote) {
        remoteCalls.set(file, [...(remoteCalls.get(file) ?? []), { ...at, message: `job '${job.id}': ${res.error}` }]);
        continue;
      }
      if (res.error) {
        errors.push({ ...at, message: `job '${job.id}': ${res.error}` });
        continue;
      }
      if (depth >= 10) {
        errors.push({ ...at, message: `job '${job.id}': reusable workflows nest too deep` });
        continue;
      }
      visit(res.path!, false, depth + 1);
      const callee = called.get(res.path!);
      if (callee) errors.push(...checkCall(display, wf, job, callee));
    }
  };
  for (const f of files) visit(f, true, 0);
  return { workflows, called, errors, remoteCalls };
}

/** The files a run of `workflows` touches: themselves and the local workflows they call, transitively. */
export function reachableFiles(workflows: LoadedWorkflow[], set: WorkflowSet, root: string): Set<string> {
  const out = new Set<string>();
  const visit = (wf: LoadedWorkflow) => {
    if (out.has(wf.path)) return;
    out.add(wf.path);
    for (const job of wf.model.jobs) {
      if (!job.uses) continue;
      const res = resolveCalledWorkflow(root, job.uses);
      const callee = res.path ? set.called.get(res.path) : undefined;
      if (callee) visit(callee);
    }
  };
  workflows.forEach(visit);
  return out;
}

/** What GitHub checks before a run: the call's `with:` names, required inputs and required secrets. */
function checkCall(file: string, caller: LoadedWorkflow, job: JobModel, callee: LoadedWorkflow): WorkflowError[] {
  const errors: WorkflowError[] = [];
  const at = (...keys: string[]) => ({ file, ...pathPosition(caller.text, ["jobs", job.id, ...keys]) });
  const where = `job '${job.id}' calling ${job.uses}`;
  if (!callee.model.events.includes("workflow_call")) {
    errors.push({ ...at("uses"), message: `${where}: the called workflow has no 'on: workflow_call' trigger` });
    return errors;
  }
  const given = job.with ?? {};
  for (const name of Object.keys(given)) {
    if (!(name in callee.model.callInputs)) errors.push({ ...at("with", name), message: `${where}: input '${name}' is not defined in the called workflow` });
  }
  for (const [name, spec] of Object.entries(callee.model.callInputs)) {
    if (spec.required && spec.default === undefined && !(name in given)) {
      errors.push({ ...at("uses"), message: `${where}: input '${name}' is required but not provided` });
    }
  }
  if (job.secrets !== "inherit") {
    const secrets = job.secrets ?? {};
    for (const [name, spec] of Object.entries(callee.model.callSecrets ?? {})) {
      if (spec.required && !(name in secrets)) errors.push({ ...at("uses"), message: `${where}: secret '${name}' is required but not provided` });
    }
  }
  return errors;
}
