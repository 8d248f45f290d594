// Workflow files and task payloads → the typed model (src/workflow/model.ts).
export { parseWorkflow, loadYaml } from "./parse-workflow.js";
export { parseTaskPayload, payloadMatrix } from "./parse-payload.js";
export { validateWorkflowTemplate } from "./validate-template.js";
export * from "./model.js";
export { InputError, inputsFromDispatchEvent, typeCallInputs, typeDispatchInputs } from "./inputs.js";
export { pathPosition } from "./parse-workflow.js";
export { buildJob } from "./build-model.js";
export { githubTaskContext, payloadJob, type PayloadJob, type WorkflowCall, workflowCallOf } from "./task-job.js";
