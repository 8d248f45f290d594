import { data } from "@actions/expressions";
import { hashFilesResult } from "./hash-files.js";
import type { EvalContext } from "./types.js";
import { ExpressionError } from "./types.js";

/** Shape the library's Evaluator expects for caller-supplied functions. */
export interface HostFunction {
  name: string;
  minArgs: number;
  maxArgs: number;
  call: (...args: data.ExpressionData[]) => data.ExpressionData;
}

export const STATUS_FUNCTIONS = ["success", "failure", "always", "cancelled"] as const;

/** Signatures the parser validates against (names and arities only). */
export const HOST_FUNCTION_INFO = [
  { name: "success", minArgs: 0, maxArgs: 0 },
  { name: "failure", minArgs: 0, maxArgs: 0 },
  { name: "always", minArgs: 0, maxArgs: 0 },
  { name: "cancelled", minArgs: 0, maxArgs: 0 },
  { name: "hashFiles", minArgs: 1, maxArgs: 255 },
];

/** The runner's functions, bound to one evaluation's status scope and workspace. */
export function hostFunctions(ctx: EvalContext): Map<string, HostFunction> {
  const status = ctx.status ?? { failed: false, cancelled: false };
  const fns: HostFunction[] = [
    {
      name: "success",
      minArgs: 0,
      maxArgs: 0,
      call: () => new data.BooleanData(!status.failed && !status.cancelled && !status.blocked),
    },
    { name: "failure", minArgs: 0, maxArgs: 0, call: () => new data.BooleanData(status.failed && !status.cancelled) },
    { name: "always", minArgs: 0, maxArgs: 0, call: () => new data.BooleanData(true) },
    { name: "cancelled", minArgs: 0, maxArgs: 0, call: () => new data.BooleanData(status.cancelled) },
    {
      name: "hashFiles",
      minArgs: 1,
      maxArgs: 255,
      call: (...args) => {
        if (ctx.workspace === undefined) {
          throw new ExpressionError("hashFiles() is not available here: there is no workspace yet");
        }
        return new data.StringData(hashFilesResult(ctx.workspace, args.map((a) => a.coerceString())));
      },
    },
  ];
  return new Map(fns.map((f) => [f.name.toLowerCase(), f]));
}
