// Schema validation with @actions/workflow-parser.
//
// The published package imports its JSON schema with a bare
// `import schema from "../workflow-v1.0.min.json"` (no `with { type: "json" }`),
// which plain Node 20 refuses. Two places load this file: tests run under tsx,
// whose loader accepts the import, and the CLI is bundled by esbuild
// (scripts/build.mjs), which inlines the JSON at build time. Nothing imports
// the package unbundled under plain Node.
import { NoOperationTraceWriter, convertWorkflowTemplate, parseWorkflow as parseTemplate } from "@actions/workflow-parser";
import { MappingDefinition } from "@actions/workflow-parser/templates/schema/mapping-definition";
import { PropertyDefinition } from "@actions/workflow-parser/templates/schema/property-definition";
import { StringToken } from "@actions/workflow-parser/templates/tokens/string-token";
import { getWorkflowSchema } from "@actions/workflow-parser/workflows/workflow-schema";
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
  extendSchemaForForgejo();
  const parsed = parseTemplate({ name: fileName, content: text }, new NoOperationTraceWriter());
  if (parsed.value && parsed.context.errors.count === 0) {
    // The converter is async only to fetch referenced workflows, which we do
    // not ask for (fetch depth 0): every check runs before its first await,
    // so the errors are in the context when the call returns.
    void convertWorkflowTemplate(parsed.context, parsed.value).catch(() => undefined);
  }
  const errors: WorkflowError[] = [];
  for (const e of parsed.context.errors.getErrors().slice(0, MAX_ERRORS)) {
    const err: WorkflowError = { file: fileName, message: oneLine(e.rawMessage) };
    if (e.range) {
      err.line = e.range.start.line;
      err.column = e.range.start.column;
    }
    if (e.code) err.code = e.code;
    errors.push(err);
  }
  if (errors.length === 0 && !parsed.value) errors.push({ file: fileName, message: "The workflow is empty" });
  return errors;
}

/** YAML syntax errors come with a source excerpt; the position is kept separately. */
function oneLine(message: string): string {
  const first = message.split("\n")[0] ?? message;
  return first.replace(/ at line \d+, column \d+:?$/, "").trimEnd();
}
