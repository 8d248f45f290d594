// The typed workflow model the engine runs. Produced by the workflow parser
// (src/workflow/parse-*.ts) from a workflow file or a task payload. Values that
// may hold `${{ }}` expressions are kept raw; the engine evaluates them when
// their contexts exist.

export interface WorkflowError {
  file?: string;
  /** 1-based. */
  line?: number;
  column?: number;
  message: string;
  code?: string;
}

/** Raw YAML value that may contain expressions (string | number | boolean | null | array | object). */
export type RawValue = unknown;

export interface RunDefaults {
  shell?: string;
  workingDirectory?: string;
}

export interface StepModel {
  /** 0-based index in the job's steps. */
  index: number;
  /** Explicit `id:`; undefined when the step has none. */
  id?: string;
  name?: string;
  /** Raw `if:` text (without the implicit `success() &&`); undefined when absent. */
  if?: string;
  run?: string;
  uses?: string;
  with: Record<string, RawValue>;
  env: Record<string, RawValue>;
  shell?: string;
  workingDirectory?: string;
  continueOnError?: RawValue;
  timeoutMinutes?: RawValue;
}

export interface StrategyModel {
  /** Matrix definition as written (include/exclude kept), or an expression string. */
  matrix?: RawValue;
  failFast?: RawValue;
  maxParallel?: RawValue;
}

export interface JobModel {
  /** YAML job id. */
  id: string;
  name?: string;
  runsOn?: RawValue;
  needs: string[];
  if?: string;
  env: Record<string, RawValue>;
  defaults?: { run?: RunDefaults };
  steps: StepModel[];
  outputs: Record<string, string>;
  timeoutMinutes?: RawValue;
  continueOnError?: RawValue;
  strategy?: StrategyModel;
  container?: RawValue;
  services?: RawValue;
  /** Reusable workflow call (`jobs.<id>.uses`). */
  uses?: string;
  with?: Record<string, RawValue>;
  /** `inherit` or a mapping. */
  secrets?: "inherit" | Record<string, RawValue>;
}

export interface WorkflowInputSpec {
  type?: "string" | "boolean" | "number" | "choice" | "environment";
  default?: RawValue;
  required?: boolean;
  description?: string;
  /** `choice` inputs: the allowed values. */
  options?: string[];
}

export interface WorkflowModel {
  file?: string;
  name?: string;
  /** Event names this workflow triggers on. */
  events: string[];
  /** workflow_dispatch inputs, with types. */
  dispatchInputs: Record<string, WorkflowInputSpec>;
  /** workflow_call inputs / outputs / secrets (for reusable workflows). */
  callInputs: Record<string, WorkflowInputSpec>;
  callOutputs: Record<string, { value: string; description?: string }>;
  /** workflow_call secrets the called workflow declares. */
  callSecrets?: Record<string, { required?: boolean; description?: string }>;
  env: Record<string, RawValue>;
  defaults?: { run?: RunDefaults };
  jobs: JobModel[];
}

export interface ParseResult<T> {
  value?: T;
  errors: WorkflowError[];
}

export function formatWorkflowError(e: WorkflowError): string {
  const where = e.line !== undefined ? ` (Line: ${e.line}, Col: ${e.column ?? 1})` : "";
  return `${e.file ?? "workflow"}${where}: ${e.message}`;
}
