/**
 * Turns a workflow file into Forgejo's per-job `workflow_payload`: a workflow with exactly one
 * job, one matrix combination, `needs:` erased, serialised like go-yaml v3 with the key order of
 * Forgejo's job parser structs (unknown keys are dropped, as Go's struct decoding drops them).
 */
import { type YAMLSeq, isMap, isPair, isScalar, isSeq, parseDocument } from "yaml";
import { type GoNode, GoMapping, copyNode, goString, goStringMap, goValue, renderGoYaml } from "./go-yaml-style.js";

export interface JobPayload {
  yaml: string;
  jobKey: string;
  name: string;
  runsOn: string[];
  /** Server-side step names (name, else uses, else run, else id), by index. */
  stepNames: string[];
  /** Job ids listed in the job's `needs:` (erased from the payload). */
  needs: string[];
  /** The job's `if:` text, if any (decides whether it runs after a failed need). */
  ifCondition?: string;
}

type Mapping = Map<string, unknown>;

function entries(node: unknown): Mapping {
  const out: Mapping = new Map();
  if (!isMap(node)) return out;
  for (const pair of node.items) {
    if (!isPair(pair)) continue;
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    out.set(key, pair.value);
  }
  return out;
}

function scalarString(node: unknown): string | undefined {
  if (node === undefined || node === null) return undefined;
  if (isScalar(node)) return node.value === null ? undefined : String(node.value);
  return undefined;
}

function plain(node: unknown): unknown {
  if (isScalar(node)) return node.value;
  if (isSeq(node)) return node.items.map(plain);
  if (isMap(node)) {
    const o: Record<string, unknown> = {};
    for (const [k, v] of entries(node)) o[k] = plain(v);
    return o;
  }
  return node ?? null;
}

function stringMap(node: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of entries(node)) {
    const val = plain(v);
    out[k] = val === null || val === undefined ? "" : String(val);
  }
  return out;
}

function parseWorkflowDoc(text: string): Mapping {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new Error(`workflow YAML: ${doc.errors[0]!.message}`);
  if (!isMap(doc.contents)) throw new Error("workflow YAML: top level is not a mapping");
  return entries(doc.contents);
}

function jobsOf(root: Mapping): Mapping {
  const jobs = entries(root.get("jobs"));
  if (jobs.size === 0) throw new Error("workflow has no jobs");
  return jobs;
}

export function listJobs(workflowText: string): string[] {
  return [...jobsOf(parseWorkflowDoc(workflowText)).keys()];
}

/** Go's fmt.Sprint of a decoded YAML value (for job names of matrix jobs). */
function goSprint(v: unknown): string {
  if (v === null || v === undefined) return "<nil>";
  if (Array.isArray(v)) return `[${v.map(goSprint).join(" ")}]`;
  if (typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `map[${Object.keys(o).sort().map((k) => `${k}:${goSprint(o[k])}`).join(" ")}]`;
  }
  return String(v);
}

export function matrixName(matrix: Record<string, unknown>): string {
  return `(${Object.keys(matrix).sort().map((k) => goSprint(matrix[k])).join(", ")})`;
}

/** Every combination of a job's `strategy.matrix` (cross product, then `exclude`, then `include`). */
export function matrixCombinations(workflowText: string, jobKey: string): Record<string, unknown>[] {
  const job = entries(jobsOf(parseWorkflowDoc(workflowText)).get(jobKey));
  const matrix = plain(entries(job.get("strategy")).get("matrix"));
  if (!matrix || typeof matrix !== "object" || Array.isArray(matrix)) return [];
  const m = matrix as Record<string, unknown>;
  // GitHub's rules: the cross product of the dimensions, minus `exclude`; each `include`
  // entry extends every combination whose original values it does not contradict, or
  // becomes a combination of its own when it extends none.
  const dims = Object.entries(m).filter(([k, v]) => k !== "include" && k !== "exclude" && Array.isArray(v));
  let combos: Record<string, unknown>[] = dims.length ? [{}] : [];
  for (const [key, values] of dims) {
    combos = combos.flatMap((c) => (values as unknown[]).map((v) => ({ ...c, [key]: v })));
  }
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const matches = (c: Record<string, unknown>, pattern: Record<string, unknown>) =>
    Object.entries(pattern).every(([k, v]) => same(c[k], v));
  if (Array.isArray(m.exclude)) {
    combos = combos.filter((c) => !(m.exclude as Record<string, unknown>[]).some((p) => matches(c, p)));
  }
  const originals = combos.map((c) => ({ ...c }));
  const dimNames = new Set(dims.map(([k]) => k));
  if (Array.isArray(m.include)) {
    for (const inc of m.include as Record<string, unknown>[]) {
      let extended = false;
      originals.forEach((orig, i) => {
        const fits = Object.entries(inc).every(([k, v]) => !dimNames.has(k) || same(orig[k], v));
        if (fits) {
          Object.assign(combos[i]!, inc);
          extended = true;
        }
      });
      if (!extended) combos.push({ ...inc });
    }
  }
  if (combos.length === 0) return [];
  return combos.sort((a, b) => (matrixName(a) < matrixName(b) ? -1 : matrixName(a) > matrixName(b) ? 1 : 0));
}

/** Replaces `${{ matrix.<key> }}` (the only expressions the emulator evaluates server-side). */
function interpolateMatrix(s: string, matrix: Record<string, unknown>): string {
  return s.replace(/\$\{\{\s*matrix\.([A-Za-z0-9_-]+)\s*\}\}/g, (whole, key: string) =>
    key in matrix ? goSprint(matrix[key]) : "",
  );
}

function runsOnLabels(node: unknown): string[] {
  if (isScalar(node)) return node.value === null ? [] : [String(node.value)];
  if (isSeq(node)) return node.items.map((i) => String(plain(i)));
  if (isMap(node)) return runsOnLabels(entries(node).get("labels"));
  return [];
}

function stepName(step: Mapping): string {
  for (const key of ["name", "uses", "run", "id"]) {
    const v = scalarString(step.get(key));
    if (v) return v;
  }
  return "";
}

function emitStep(step: Mapping): GoNode {
  const out = new GoMapping();
  out.setString("id", scalarString(step.get("id")));
  if (step.has("if")) out.setNode("if", copyNode(step.get("if")));
  out.setString("name", scalarString(step.get("name")));
  out.setString("uses", scalarString(step.get("uses")));
  out.setString("run", scalarString(step.get("run")));
  out.setString("working-directory", scalarString(step.get("working-directory")));
  out.setString("shell", scalarString(step.get("shell")));
  if (step.has("env")) out.setNode("env", copyNode(step.get("env")));
  if (step.has("with")) out.set("with", goStringMap(stringMap(step.get("with")), goString));
  const coe = plain(step.get("continue-on-error"));
  if (coe === true || coe === "true") out.set("continue-on-error", goValue(true));
  out.setString("timeout-minutes", scalarString(step.get("timeout-minutes")));
  return out.node;
}

function emitContainerSpec(spec: Mapping): GoNode {
  const out = new GoMapping();
  out.setString("image", scalarString(spec.get("image")));
  if (spec.has("env")) out.set("env", goStringMap(stringMap(spec.get("env")), goString));
  for (const key of ["ports", "volumes"]) {
    const list = plain(spec.get(key));
    if (Array.isArray(list)) out.set(key, goValue(list.map(String)));
  }
  out.setString("options", scalarString(spec.get("options")));
  if (spec.has("credentials")) out.set("credentials", goStringMap(stringMap(spec.get("credentials")), goString));
  const cmd = plain(spec.get("cmd"));
  if (Array.isArray(cmd)) out.set("cmd", goValue(cmd.map(String)));
  return out.node;
}

function emitDefaults(node: unknown): GoNode {
  const run = entries(entries(node).get("run"));
  const runOut = new GoMapping();
  runOut.setString("shell", scalarString(run.get("shell")));
  runOut.setString("working-directory", scalarString(run.get("working-directory")));
  return new GoMapping().set("run", runOut.node).node;
}

export function buildJobPayload(
  workflowText: string,
  jobKey: string,
  matrix: Record<string, unknown> | undefined,
): JobPayload {
  const root = parseWorkflowDoc(workflowText);
  const jobs = jobsOf(root);
  if (!jobs.has(jobKey)) throw new Error(`workflow has no job "${jobKey}"`);
  const job = entries(jobs.get(jobKey));
  const m = matrix ?? {};

  const rawName = scalarString(job.get("name")) ?? "";
  const name = rawName === "" ? (Object.keys(m).length ? `${jobKey} ${matrixName(m)}` : jobKey) : interpolateMatrix(rawName, m);
  const runsOn = runsOnLabels(job.get("runs-on")).map((l) => interpolateMatrix(l, m));
  const needsNode = plain(job.get("needs"));
  const needs = Array.isArray(needsNode) ? needsNode.map(String) : typeof needsNode === "string" ? [needsNode] : [];

  const stepNodes = isSeq(job.get("steps")) ? (job.get("steps") as YAMLSeq).items.filter((s) => isMap(s)) : [];
  const steps = stepNodes.map((s) => entries(s));

  const j = new GoMapping();
  j.setString("name", name);
  if (runsOn.length === 1) j.set("runs-on", goString(runsOn[0]!));
  else if (runsOn.length > 1) j.set("runs-on", goValue(runsOn));
  if (job.has("env")) j.setNode("env", copyNode(job.get("env")));
  if (job.has("if")) j.setNode("if", copyNode(job.get("if")));
  j.set("steps", { kind: "seq", items: steps.map(emitStep), flow: false });
  j.setString("timeout-minutes", scalarString(job.get("timeout-minutes")));
  const services = entries(job.get("services"));
  if (services.size) {
    const specs: Record<string, Mapping> = {};
    for (const [k, v] of services) specs[k] = entries(v);
    j.set("services", goStringMap(specs, emitContainerSpec));
  }
  const strategy = entries(job.get("strategy"));
  const st = new GoMapping();
  st.setString("fail-fast", scalarString(strategy.get("fail-fast")));
  st.setString("max-parallel", scalarString(strategy.get("max-parallel")));
  if (Object.keys(m).length) {
    const lists: Record<string, unknown[]> = {};
    for (const [k, v] of Object.entries(m)) lists[k] = [v];
    st.set("matrix", goStringMap(lists, goValue));
  }
  j.set("strategy", st.node);
  if (job.has("container")) j.setNode("container", copyNode(job.get("container")));
  if (job.has("defaults")) j.set("defaults", emitDefaults(job.get("defaults")));
  if (job.has("outputs")) j.set("outputs", goStringMap(stringMap(job.get("outputs")), goString));
  j.setString("uses", scalarString(job.get("uses")));
  const jobWith = plain(job.get("with"));
  if (jobWith && typeof jobWith === "object" && !Array.isArray(jobWith)) {
    j.set("with", goStringMap(jobWith as Record<string, unknown>, goValue));
  }
  if (job.has("secrets")) j.setNode("secrets", copyNode(job.get("secrets")));
  if (job.has("concurrency")) j.setNode("concurrency", copyNode(job.get("concurrency")));

  const top = new GoMapping();
  top.setString("name", scalarString(root.get("name")));
  if (root.has("on")) top.setNode("on", copyNode(root.get("on")));
  if (root.has("env")) top.set("env", goStringMap(stringMap(root.get("env")), goString));
  top.set("jobs", { kind: "map", pairs: [[goString(jobKey), j.node]], flow: false });
  if (root.has("defaults")) top.set("defaults", emitDefaults(root.get("defaults")));

  return {
    yaml: renderGoYaml(top.node),
    jobKey,
    name,
    runsOn,
    stepNames: steps.map(stepName),
    needs,
    ifCondition: job.has("if") ? String(plain(job.get("if")) ?? "") : undefined,
  };
}

/** A payload taken verbatim (possibly malformed, for runner error paths); step names best effort. */
export function rawPayload(text: string, jobKey: string): JobPayload {
  let stepNames: string[] = [];
  let runsOn: string[] = [];
  try {
    const jobs = jobsOf(parseWorkflowDoc(text));
    const job = entries(jobs.get(jobKey) ?? [...jobs.values()][0]);
    const steps = job.get("steps");
    if (isSeq(steps)) stepNames = steps.items.filter((s) => isMap(s)).map((s) => stepName(entries(s)));
    runsOn = runsOnLabels(job.get("runs-on"));
  } catch {
    // not a workflow: no steps, and runs-on must come from the caller
  }
  return { yaml: text, jobKey, name: jobKey, runsOn, stepNames, needs: [] };
}
