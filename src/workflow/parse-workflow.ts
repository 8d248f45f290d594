import { LineCounter, isMap, isScalar, parseDocument, type Document } from "yaml";
import { buildWorkflowModel } from "./build-model.js";
import type { ParseResult, WorkflowError, WorkflowModel } from "./model.js";
import { readWorkflow } from "./validate-template.js";

/**
 * Parses and validates a workflow file. `value` is set only when there are no
 * errors; errors carry 1-based line/column positions.
 */
export function parseWorkflow(fileName: string, text: string): ParseResult<WorkflowModel> & { data?: () => unknown } {
  const read = readWorkflow(fileName, text);
  if (read.errors.length > 0) return { errors: read.errors };
  const doc = read.doc;
  // The plain data comes from the validator's document; should a version of the package not keep it, the text is
  // read again. Each call builds a copy of its own.
  const data = doc ? () => plainData(doc) : () => loadYaml(fileName, text).value;
  return { value: buildWorkflowModel(data(), fileName), errors: [], data };
}

/** Plain data of a YAML document, `${{ }}` strings untouched. */
export function loadYaml(fileName: string, text: string): ParseResult<unknown> {
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: false });
  if (doc.errors.length > 0) {
    return { errors: doc.errors.map((e) => ({ file: fileName, message: e.message.split("\n")[0]!, ...pos(e.linePos?.[0]) })) };
  }
  return { value: plainData(doc), errors: [] };
}

function plainData(doc: Document): unknown {
  return doc.toJS({ maxAliasCount: 10000 });
}

/** 1-based position of a top-level key (for errors about it), if the text has it. */
export function keyPosition(text: string, key: string): { line?: number; column?: number } {
  return pathPosition(text, [key]);
}

/**
 * 1-based position of the key at the end of a mapping path (`["jobs", "build",
 * "with", "x"]`), or of the deepest part of it that exists; {} when none does.
 */
export function pathPosition(text: string, keys: string[]): { line?: number; column?: number } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: false });
  let node: unknown = doc.contents;
  let found: { line?: number; column?: number } = {};
  for (const key of keys) {
    if (!isMap(node)) break;
    const item = node.items.find((i) => isScalar(i.key) && String(i.key.value) === key);
    if (!item || !isScalar(item.key) || !item.key.range) break;
    found = pos(lc.linePos(item.key.range[0]));
    node = item.value;
  }
  return found;
}

function pos(p: { line: number; col: number } | undefined): Pick<WorkflowError, "line" | "column"> {
  return p ? { line: p.line, column: p.col } : {};
}
