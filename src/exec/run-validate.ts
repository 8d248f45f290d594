// `native-runner validate`: the same checks exec runs before starting jobs,
// for workflows (and the local workflows they call) or action.yml files.

import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { parseActionMetadata } from "../actions/index.js";
import { formatWorkflowError, type WorkflowError } from "../workflow/model.js";
import { displayPath, findWorkflowFiles, loadWorkflowSet } from "./workflow-files.js";

export interface ValidateOptions {
  /** File or directory; default: the workflow directories under `directory`. */
  path?: string;
  directory: string;
  kind?: "workflow" | "action";
}

/** Prints one line per error (or per valid file) and returns the exit code. */
export function runValidate(o: ValidateOptions, out: (s: string) => void, err: (s: string) => void): number {
  const root = path.resolve(o.directory);
  let files: string[];
  try {
    files = o.kind === "action" ? findActionFiles(root, o.path) : findWorkflowFiles(root, o.path);
  } catch (e) {
    err(`validate: ${(e as Error).message}\n`);
    return 1;
  }
  const errors: WorkflowError[] = [];
  const isAction = (f: string) => o.kind === "action" || (o.kind === undefined && /^action\.ya?ml$/.test(path.basename(f)));
  const workflows = files.filter((f) => !isAction(f));
  const actions = files.filter(isAction);
  if (workflows.length > 0) errors.push(...loadWorkflowSet(root, workflows).errors);
  for (const f of actions) {
    const display = displayPath(root, f);
    errors.push(...parseActionMetadata(readFileSync(f, "utf8"), display).errors);
  }
  for (const e of errors) err(`${formatWorkflowError(e)}\n`);
  const bad = new Set(errors.map((e) => e.file));
  for (const f of files) {
    const display = displayPath(root, f);
    if (!bad.has(display)) out(`${display}: valid ${isAction(f) ? "action" : "workflow"}\n`);
  }
  return errors.length > 0 ? 1 : 0;
}

function findActionFiles(root: string, p?: string): string[] {
  const target = path.resolve(root, p ?? ".");
  if (!existsSync(target)) throw new Error(`${p ?? target}: no such file or directory`);
  if (!statSync(target).isDirectory()) return [target];
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    for (const name of readdirSync(dir).sort()) {
      if (name === ".git" || name === "node_modules") continue;
      const full = path.join(dir, name);
      const st = statSync(full);
      if (st.isDirectory() && depth < 8) walk(full, depth + 1);
      else if (st.isFile() && /^action\.ya?ml$/.test(name)) out.push(full);
    }
  };
  walk(target, 0);
  if (out.length === 0) throw new Error(`no action.yml or action.yaml under ${target}`);
  return out;
}
