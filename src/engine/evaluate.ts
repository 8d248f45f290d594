// Expression helpers for workflow values. hashFiles() works on the workspace,
// which the github context names.

import { evaluateValue, interpolate, toExpressionString, ExpressionError, type EvalContext } from "../expressions/index.js";

export function evalContext(contexts: Record<string, unknown>): EvalContext {
  const github = contexts["github"] as Record<string, unknown> | undefined;
  const workspace = typeof github?.["workspace"] === "string" ? (github["workspace"] as string) : undefined;
  return workspace ? { contexts, workspace } : { contexts };
}

/** A value as a string: templates interpolated, other YAML values coerced as GitHub does. */
export function evalString(raw: unknown, contexts: Record<string, unknown>): string {
  if (typeof raw === "string") return interpolate(raw, evalContext(contexts));
  return toExpressionString(evaluateValue(raw, evalContext(contexts)));
}

export function evalEnv(raw: Record<string, unknown> | undefined, contexts: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw ?? {})) out[k] = evalString(v, contexts);
  return out;
}

/** `continue-on-error`: a boolean or an expression giving one. */
export function evalFlag(raw: unknown, contexts: Record<string, unknown>): boolean {
  if (raw === undefined || raw === null) return false;
  const v = typeof raw === "string" ? evaluateValue(raw, evalContext(contexts)) : raw;
  return v === true || v === "true";
}

/** `timeout-minutes`: a positive number or an expression giving one; undefined when absent. */
export function evalMinutes(raw: unknown, contexts: Record<string, unknown>): number | undefined {
  if (raw === undefined || raw === null || raw === "") return undefined;
  const v = typeof raw === "string" ? evaluateValue(raw, evalContext(contexts)) : raw;
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new ExpressionError(`Invalid timeout-minutes value '${String(v)}'`);
  return n;
}
