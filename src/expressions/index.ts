// Expressions (`${{ }}`) over plain-object contexts, with the runner's own
// functions (status functions, hashFiles) added to @actions/expressions.
export { ExpressionError, type EvalContext, type StatusScope } from "./types.js";
export {
  evaluateExpression,
  interpolate,
  evaluateValue,
  evaluateCondition,
  toExpressionString,
  splitTemplate,
} from "./evaluate.js";
export { hashFiles, matchFiles, withHashFiles } from "./hash-files.js";
