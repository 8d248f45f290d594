// Schema validation with @actions/workflow-parser.
//
// The published package imports its JSON schema with a bare
// `import schema from "../workflow-v1.0.min.json"` (no `with { type: "json" }`),
// which plain Node 20 refuses. Two places load this file: tests run under tsx,
// whose loader accepts the import, and the CLI is bundled by esbuild
// (scripts/build.mjs), which inlines the JSON at build time. Nothing imports
// the package unbundled under plain Node.
import { NoOperationTraceWriter, convertWorkflowTemplate } from "@actions/workflow-parser";
import { TemplateContext, TemplateValidationErrors } from "@actions/workflow-parser/templates/template-context";
import { readTemplate } from "@actions/workflow-parser/templates/template-reader";
import { WORKFLOW_ROOT } from "@actions/workflow-parser/workflows/workflow-constants";
import { getWorkflowSchema } from "@actions/workflow-parser/workflows/workflow-schema";
import { YamlObjectReader } from "@actions/workflow-parser/workflows/yaml-object-reader";
import { MappingDefinition } from "@actions/workflow-parser/templates/schema/mapping-definition";
import { PropertyDefinition } from "@actions/workflow-parser/templates/schema/property-definition";
import { StringToken } from "@actions/workflow-parser/templates/tokens/string-token";
import { isDocument, type Document } from "yaml";
import type { WorkflowError } from "./model.js";
import { decorateDefinitions } from "./workflow-schema-tokens.js";

// Forgejo additions to GitHub's schema. Workflows may name the `github`
// context `forge` (and Gitea's `gitea`), so every place that allows `github`
// in an expression learns them too; and Forgejo accepts a top-level
// `enable-email-notifications: <bool>`. The schema is a cached singleton
// inside the package, so this runs once and parseTemplate sees it (on each
// definition as it is built, see workflow-schema-tokens.ts).
let forgejoSchema = false;
function extendSchemaForForgejo(): void {
  if (forgejoSchema) return;
  forgejoSchema = true;
  decorateDefinitions(getWorkflowSchema(), (name, def) => {
    if (def.readerContext.includes("github")) def.readerContext.push("forge", "gitea");
    if ((name === "workflow-root" || name === "workflow-root-strict") && def instanceof MappingDefinition) {
      def.properties["enable-email-notifications"] = new PropertyDefinition(new StringToken(undefined, undefined, "boolean", undefined));
    }
  });
}

const MAX_ERRORS = 50;

/**
 * Validates a workflow file against GitHub's workflow schema and the
 * converter's checks (unknown `needs`, cycles, duplicate step ids, matrix
 * shape, cron syntax...). Returns every error with its 1-based position.
 */
export function validateWorkflowTemplate(fileName: string, text: string): WorkflowError[] {
  return readWorkflow(fileName, text).errors;
}

export interface ReadWorkflow {
  errors: WorkflowError[];
  /** The YAML document the schema was read from; only without errors, and only while the package keeps it. */
  doc?: Document;
}

/**
 * Validates a workflow file and keeps the YAML document it read. This is the
 * package's parseWorkflow with the reader kept: its document is what loadYaml
 * would build (the same parser, `uniqueKeys: false`).
 */
export function readWorkflow(fileName: string, text: string): ReadWorkflow {
  extendSchemaForForgejo();
  const context = new TemplateContext(new TemplateValidationErrors(), getWorkflowSchema(), new NoOperationTraceWriter());
  const fileId = context.getFileId(fileName);
  const reader = new YamlObjectReader(fileId, text);
  let value: ReturnType<typeof readTemplate> | undefined;
  if (reader.errors.length > 0) {
    // Not valid YAML: schema errors would only mislead.
    for (const err of reader.errors) context.error(fileId, err.message, err.range);
  } else {
    value = readTemplate(context, WORKFLOW_ROOT, reader, fileId);
  }
  if (value && context.errors.count === 0) {
    // The converter is async only to fetch referenced workflows, which we do
    // not ask for (fetch depth 0): every check runs before its first await,
    // so the errors are in the context when the call returns.
    void convertWorkflowTemplate(context, value).catch(() => undefined);
  }
  const errors: WorkflowError[] = [];
  for (const e of context.errors.getErrors().slice(0, MAX_ERRORS)) {
    const err: WorkflowError = { file: fileName, message: oneLine(e.rawMessage) };
    if (e.range) {
      err.line = e.range.start.line;
      err.column = e.range.start.column;
    }
    if (e.code) err.code = e.code;
    errors.push(err);
  }
  if (errors.length === 0 && !value) errors.push({ file: fileName, message: "The workflow is empty" });
  if (errors.length > 0) return { errors };
  // The reader's document is a private field of the package.
  const doc: unknown = (reader as unknown as { doc?: unknown }).doc;
  return isDocument(doc) ? { errors, doc } : { errors };
}

/** YAML syntax errors come with a source excerpt; the position is kept separately. */
function oneLine(message: string): string {
  const first = message.split("\n")[0] ?? message;
  return first.replace(/ at line \d+, column \d+:?$/, "").trimEnd();
}
