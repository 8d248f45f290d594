// `with:` + action.yml inputs → input values, with GitHub's warnings.

import { evaluateValue, interpolate, toExpressionString, type EvalContext } from "../expressions/index.js";
import type { ActionMetadata } from "../actions/types.js";
import type { JobLog } from "./job-log.js";

/** Input values keyed by the names action.yml declares (unknown `with:` keys kept as written). */
export function resolveInputs(
  meta: ActionMetadata,
  withRaw: Record<string, unknown>,
  ctx: EvalContext,
  log: JobLog,
): Record<string, string> {
  const out: Record<string, string> = {};
  const declared = new Map<string, string>();
  for (const name of Object.keys(meta.inputs)) declared.set(name.toLowerCase(), name);
  const unexpected: string[] = [];
  const given = new Set<string>();
  // Warnings are written at the end: the evaluation may run again (hashFiles).
  const warnings: string[] = [];
  for (const [key, raw] of Object.entries(withRaw)) {
    const name = declared.get(key.toLowerCase());
    if (name === undefined) unexpected.push(key);
    const value = typeof raw === "string" ? interpolate(raw, ctx) : toExpressionString(evaluateValue(raw, ctx));
    out[name ?? key] = value;
    given.add((name ?? key).toLowerCase());
  }
  if (unexpected.length) {
    const valid = [...declared.values()].map((v) => `'${v}'`).join(", ");
    warnings.push(`Unexpected input(s) '${unexpected.join("', '")}', valid inputs are [${valid}]`);
  }
  for (const [name, spec] of Object.entries(meta.inputs)) {
    if (given.has(name.toLowerCase())) {
      if (spec.deprecationMessage) warnings.push(`Input '${name}' has been deprecated with message: ${spec.deprecationMessage}`);
      continue;
    }
    if (spec.default !== undefined && spec.default !== null) {
      out[name] = interpolate(String(spec.default), ctx);
    } else {
      if (spec.required) warnings.push(`Input required and not supplied: ${name}`);
      out[name] = "";
    }
  }
  for (const w of warnings) log.warning(w);
  return out;
}

export function inputEnv(inputs: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.replace(/ /g, "_").toUpperCase()}`] = v;
  return env;
}
