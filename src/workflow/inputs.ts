import { toExpressionString } from "../expressions/index.js";
import type { WorkflowInputSpec } from "./model.js";

export class InputError extends Error {
  override name = "InputError";
}

/**
 * workflow_dispatch inputs as typed values (`inputs` context) and as strings
 * (`github.event.inputs`), with defaults applied. `given` comes from the
 * command line, so every value is a string.
 */
export function typeDispatchInputs(
  specs: Record<string, WorkflowInputSpec>,
  given: Record<string, string>,
): { typed: Record<string, unknown>; strings: Record<string, string> } {
  for (const name of Object.keys(given)) {
    if (!(name in specs)) throw new InputError(`Unexpected input '${name}': the workflow does not declare it`);
  }
  const typed: Record<string, unknown> = {};
  const strings: Record<string, string> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw: unknown = name in given ? given[name] : spec.default;
    if (raw === undefined || raw === null || raw === "") {
      if (spec.required && spec.type !== "boolean") throw new InputError(`Input '${name}' is required`);
    }
    const value = coerceInput(name, spec, raw);
    typed[name] = value;
    strings[name] = toExpressionString(value);
  }
  return { typed, strings };
}

/** workflow_call inputs from an evaluated `with:` mapping. */
export function typeCallInputs(specs: Record<string, WorkflowInputSpec>, given: Record<string, unknown>): Record<string, unknown> {
  for (const name of Object.keys(given)) {
    if (!(name in specs)) throw new InputError(`Invalid input, ${name} is not defined in the referenced workflow.`);
  }
  const typed: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = name in given ? given[name] : spec.default;
    if ((raw === undefined || raw === null) && spec.required) {
      throw new InputError(`Input ${name} is required, but not provided while calling.`);
    }
    typed[name] = coerceInput(name, spec, raw);
  }
  return typed;
}

function coerceInput(name: string, spec: WorkflowInputSpec, raw: unknown): unknown {
  switch (spec.type) {
    case "boolean": {
      if (typeof raw === "boolean") return raw;
      if (raw === undefined || raw === null || raw === "") return false;
      const s = String(raw).toLowerCase();
      if (s === "true") return true;
      if (s === "false") return false;
      throw new InputError(`Input '${name}' must be a boolean (true or false), got '${String(raw)}'`);
    }
    case "number": {
      if (typeof raw === "number") return raw;
      if (raw === undefined || raw === null || raw === "") return null;
      const n = Number(raw);
      if (Number.isNaN(n)) throw new InputError(`Input '${name}' must be a number, got '${String(raw)}'`);
      return n;
    }
    case "choice": {
      const s = raw === undefined || raw === null ? "" : toExpressionString(raw);
      if (s !== "" && spec.options && !spec.options.includes(s)) {
        throw new InputError(`Input '${name}' must be one of ${spec.options.map((o) => `'${o}'`).join(", ")}, got '${s}'`);
      }
      return s;
    }
    default:
      return raw === undefined || raw === null ? "" : typeof raw === "string" ? raw : toExpressionString(raw);
  }
}

/**
 * The `inputs` context of a workflow_dispatch task: Forgejo sends the inputs
 * only as strings in the event payload; the workflow's declarations type them
 * as `exec` does. Never throws: a value that does not fit its type keeps its string.
 */
export function inputsFromDispatchEvent(
  specs: Record<string, WorkflowInputSpec>,
  event: unknown,
): Record<string, unknown> {
  const raw = typeof event === "object" && event !== null ? (event as Record<string, unknown>)["inputs"] : undefined;
  const given: Record<string, string> = {};
  if (typeof raw === "object" && raw !== null) {
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
      if (k in specs && v !== undefined && v !== null) given[k] = typeof v === "string" ? v : JSON.stringify(v);
    }
  }
  try {
    return typeDispatchInputs(specs, given).typed;
  } catch {
    return { ...given };
  }
}
