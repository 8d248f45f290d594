// Workflow files and task payloads → the typed model (src/workflow/model.ts).
export { parseWorkflow, loadYaml } from "./parse-workflow.js";
export { parseTaskPayload, payloadMatrix } from "./parse-payload.js";
export { validateWorkflowTemplate } from "./validate-template.js";
export * from "./model.js";
