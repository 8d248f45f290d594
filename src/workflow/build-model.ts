import type {
  JobModel,
  RawValue,
  RunDefaults,
  StepModel,
  StrategyModel,
  WorkflowInputSpec,
  WorkflowModel,
} from "./model.js";

// Builds the typed model from the workflow as plain YAML data. Values keep
// their `${{ }}` expressions as written; the engine evaluates them later.
// The plain data comes from the `yaml` package rather than from the template
// tree because the tree keeps block scalars that contain expressions as raw
// source text (indentation included), not as the decoded string.

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function obj(v: unknown): Obj {
  return isObj(v) ? v : {};
}

function optString(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  return typeof v === "string" ? v : String(v);
}

function optRaw(v: unknown): RawValue | undefined {
  return v === undefined ? undefined : v;
}

function runDefaults(v: unknown): { run?: RunDefaults } | undefined {
  if (!isObj(v)) return undefined;
  const run = obj(v.run);
  const out: RunDefaults = {};
  const shell = optString(run.shell);
  const wd = optString(run["working-directory"]);
  if (shell !== undefined) out.shell = shell;
  if (wd !== undefined) out.workingDirectory = wd;
  return { run: out };
}

function eventNames(on: unknown): string[] {
  if (typeof on === "string") return [on];
  if (Array.isArray(on)) return on.map(String);
  if (isObj(on)) return Object.keys(on);
  return [];
}

function inputSpecs(v: unknown): Record<string, WorkflowInputSpec> {
  const out: Record<string, WorkflowInputSpec> = {};
  for (const [name, specRaw] of Object.entries(obj(v))) {
    const spec = obj(specRaw);
    const s: WorkflowInputSpec = {};
    const type = optString(spec.type);
    if (type === "string" || type === "boolean" || type === "number" || type === "choice" || type === "environment") {
      s.type = type;
    }
    if (spec.default !== undefined) s.default = spec.default;
    if (spec.required !== undefined) s.required = spec.required === true;
    const desc = optString(spec.description);
    if (desc !== undefined) s.description = desc;
    if (Array.isArray(spec.options)) s.options = spec.options.map(String);
    out[name] = s;
  }
  return out;
}

function buildStep(raw: unknown, index: number): StepModel {
  const s = obj(raw);
  const step: StepModel = { index, with: obj(s.with), env: obj(s.env) };
  const id = optString(s.id);
  if (id !== undefined) step.id = id;
  const name = optString(s.name);
  if (name !== undefined) step.name = name;
  const cond = optString(s.if);
  if (cond !== undefined) step.if = cond;
  const run = optString(s.run);
  if (run !== undefined) step.run = run;
  const uses = optString(s.uses);
  if (uses !== undefined) step.uses = uses;
  const shell = optString(s.shell);
  if (shell !== undefined) step.shell = shell;
  const wd = optString(s["working-directory"]);
  if (wd !== undefined) step.workingDirectory = wd;
  if (s["continue-on-error"] !== undefined) step.continueOnError = s["continue-on-error"];
  if (s["timeout-minutes"] !== undefined) step.timeoutMinutes = s["timeout-minutes"];
  return step;
}

function buildStrategy(v: unknown): StrategyModel | undefined {
  if (!isObj(v)) return undefined;
  const s: StrategyModel = {};
  if (v.matrix !== undefined) s.matrix = v.matrix;
  if (v["fail-fast"] !== undefined) s.failFast = v["fail-fast"];
  if (v["max-parallel"] !== undefined) s.maxParallel = v["max-parallel"];
  return s;
}

export function buildJob(id: string, raw: unknown): JobModel {
  const j = obj(raw);
  const needs = j.needs === undefined || j.needs === null ? [] : Array.isArray(j.needs) ? j.needs.map(String) : [String(j.needs)];
  const outputs: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(j.outputs))) outputs[k] = optString(v) ?? "";
  const job: JobModel = {
    id,
    needs,
    env: obj(j.env),
    steps: Array.isArray(j.steps) ? j.steps.map(buildStep) : [],
    outputs,
  };
  const name = optString(j.name);
  if (name !== undefined) job.name = name;
  if (j["runs-on"] !== undefined) job.runsOn = j["runs-on"];
  const cond = optString(j.if);
  if (cond !== undefined) job.if = cond;
  const defaults = runDefaults(j.defaults);
  if (defaults) job.defaults = defaults;
  if (j["timeout-minutes"] !== undefined) job.timeoutMinutes = j["timeout-minutes"];
  if (j["continue-on-error"] !== undefined) job.continueOnError = j["continue-on-error"];
  const strategy = buildStrategy(j.strategy);
  if (strategy) job.strategy = strategy;
  if (j.container !== undefined) job.container = optRaw(j.container);
  if (j.services !== undefined) job.services = optRaw(j.services);
  const uses = optString(j.uses);
  if (uses !== undefined) {
    job.uses = uses;
    job.with = obj(j.with);
    if (j.secrets === "inherit") job.secrets = "inherit";
    else if (isObj(j.secrets)) job.secrets = j.secrets;
  }
  return job;
}

export function buildWorkflowModel(root: unknown, file: string | undefined): WorkflowModel {
  const w = obj(root);
  const on = w.on;
  const onObj = obj(on);
  const call = obj(onObj.workflow_call);
  const callOutputs: Record<string, { value: string; description?: string }> = {};
  for (const [k, v] of Object.entries(obj(call.outputs))) {
    const o = obj(v);
    const out: { value: string; description?: string } = { value: optString(o.value) ?? "" };
    const d = optString(o.description);
    if (d !== undefined) out.description = d;
    callOutputs[k] = out;
  }
  const callSecrets: Record<string, { required?: boolean; description?: string }> = {};
  for (const [k, v] of Object.entries(obj(call.secrets))) {
    const o = obj(v);
    const s: { required?: boolean; description?: string } = {};
    if (o.required !== undefined) s.required = o.required === true;
    const d = optString(o.description);
    if (d !== undefined) s.description = d;
    callSecrets[k] = s;
  }
  const model: WorkflowModel = {
    events: eventNames(on),
    dispatchInputs: inputSpecs(obj(onObj.workflow_dispatch).inputs),
    callInputs: inputSpecs(call.inputs),
    callOutputs,
    callSecrets,
    env: obj(w.env),
    jobs: Object.entries(obj(w.jobs)).map(([id, j]) => buildJob(id, j)),
  };
  if (file !== undefined) model.file = file;
  const name = optString(w.name);
  if (name !== undefined) model.name = name;
  const defaults = runDefaults(w.defaults);
  if (defaults) model.defaults = defaults;
  return model;
}
