// `exec` and `validate`: run or check a repository's workflows locally.
export { runExec, type ExecOptions, type ExecIo } from "./run-exec.js";
export { runValidate, type ValidateOptions } from "./run-validate.js";
export {
  Orchestrator, aggregate,
  type ExecObserver, type JobFinish, type JobRef, type NodeResult, type OrchestratorOptions, type RunJobFn,
} from "./orchestrator.js";
export { expandMatrix, matrixJobName, MatrixError, type MatrixCombo } from "./matrix.js";
export { singleJobYaml } from "./single-job-yaml.js";
export { buildTaskContext, defaultEvent, type RunInfo } from "./task-context.js";
export { findWorkflowFiles, loadWorkflowSet, loadWorkflowFile, type LoadedWorkflow } from "./workflow-files.js";
export { ConsolePrinter } from "./console-printer.js";
export { JsonPrinter } from "./json-printer.js";
export { withWorkflowCalls } from "./workflow-call-task.js";
