// What a task's single-job payload says about the job, independent of who
// runs it (the daemon or a per-job worker): the job's key, the workflow's
// `name:`, and whether the job calls a reusable workflow. Servers differ in
// what they put into the task context; the payload is authoritative.

import { parse as parseYaml } from "yaml";

type Obj = Record<string, unknown>;

export interface PayloadJob {
  /** The job's key in the workflow (`build`). */
  key: string;
  /** The job as plain YAML data. */
  raw: Obj;
  /** The workflow's `name:`, when it has one. */
  workflowName?: string;
}

/** The single job of a payload; undefined when the payload is not one readable job (the engine reports why). */
export function payloadJob(payload: string): PayloadJob | undefined {
  let doc: unknown;
  try {
    doc = parseYaml(payload);
  } catch {
    return undefined;
  }
  if (!isObj(doc) || !isObj(doc.jobs)) return undefined;
  const entries = Object.entries(doc.jobs);
  if (entries.length !== 1 || !isObj(entries[0]![1])) return undefined;
  const [key, raw] = entries[0] as [string, Obj];
  const name = doc.name;
  return { key, raw, ...(typeof name === "string" && name.trim() !== "" ? { workflowName: name } : {}) };
}

/**
 * The task context with `job` and `workflow` as GitHub defines them:
 * `job` is the job's key (a server may send its numeric job id), and
 * `workflow` is the workflow's `name:` when the server sent the file name
 * (`ci.yml`) and the workflow has a name. `workflow_ref` keeps the path form.
 */
export function githubTaskContext(context: Obj, job: PayloadJob | undefined): Obj {
  if (!job) return context;
  const out: Obj = { ...context, job: job.key };
  const wf = context.workflow;
  if (job.workflowName !== undefined && (typeof wf !== "string" || wf === "" || /\.ya?ml$/i.test(wf))) out.workflow = job.workflowName;
  return out;
}

/** A job that calls a reusable workflow (`jobs.<id>.uses`). */
export interface WorkflowCall {
  uses: string;
  /** Where the called workflow lives. */
  source: LocalWorkflowSource | RemoteWorkflowSource;
}

/** `./.forgejo/workflows/x.yml`: the caller's repository at the caller's commit. */
export interface LocalWorkflowSource {
  kind: "local";
  /** Path inside the repository, without `./`. */
  path: string;
}

/** `owner/repo/path/to/x.yml@ref`. */
export interface RemoteWorkflowSource {
  kind: "remote";
  repository: string;
  path: string;
  ref: string;
}

const WORKFLOW_DIRS = [".forgejo/workflows/", ".gitea/workflows/", ".github/workflows/"];

/** The reusable-workflow call of a payload job, or undefined for a job with steps. Throws on a malformed reference. */
export function workflowCallOf(job: PayloadJob | undefined): WorkflowCall | undefined {
  const uses = job?.raw.uses;
  if (typeof uses !== "string") return undefined;
  return { uses, source: parseWorkflowUses(uses) };
}

export function parseWorkflowUses(uses: string): LocalWorkflowSource | RemoteWorkflowSource {
  const ref = uses.trim();
  if (ref.startsWith("./")) {
    const path = ref.slice(2).replace(/@.*$/, "");
    checkWorkflowPath(uses, path);
    return { kind: "local", path };
  }
  const m = /^([^/\s@]+)\/([^/\s@]+)\/([^@\s]+)@([^@\s]+)$/.exec(ref);
  if (!m) {
    throw new Error(
      `reusable workflow '${uses}': expected ./path/to/workflow.yml or owner/repo/path/to/workflow.yml@ref`,
    );
  }
  checkWorkflowPath(uses, m[3]!);
  return { kind: "remote", repository: `${m[1]}/${m[2]}`, path: m[3]!, ref: m[4]! };
}

function checkWorkflowPath(uses: string, path: string): void {
  if (!/\.ya?ml$/.test(path)) throw new Error(`reusable workflow '${uses}': the path must name a .yml or .yaml file`);
  if (path.split("/").some((p) => p === ".." || p === "")) throw new Error(`reusable workflow '${uses}': invalid path`);
  if (!WORKFLOW_DIRS.some((d) => path.startsWith(d) && !path.slice(d.length).includes("/"))) {
    throw new Error(`reusable workflow '${uses}': the file must be in ${WORKFLOW_DIRS.map((d) => d.slice(0, -1)).join(", ")}`);
  }
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
