import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  ExpressionError, evaluateCondition, evaluateExpression, interpolate, type EvalContext,
} from "../../src/expressions/index.js";
import { FUZZ_RUNS } from "./fuzz-runs.js";

const json = fc.jsonValue({ maxDepth: 3 });
const ctxArb: fc.Arbitrary<EvalContext> = fc.record({
  contexts: fc.record({
    github: fc.dictionary(fc.string({ maxLength: 8 }), json, { maxKeys: 4 }),
    env: fc.dictionary(fc.string({ maxLength: 8 }), fc.string(), { maxKeys: 4 }),
    matrix: fc.dictionary(fc.string({ maxLength: 8 }), json, { maxKeys: 3 }),
    steps: fc.dictionary(fc.string({ maxLength: 8 }), json, { maxKeys: 3 }),
    needs: fc.dictionary(fc.string({ maxLength: 8 }), json, { maxKeys: 3 }),
    secrets: fc.dictionary(fc.string({ maxLength: 8 }), fc.string(), { maxKeys: 3 }),
  }),
  status: fc.record({ failed: fc.boolean(), cancelled: fc.boolean() }),
});

const token = fc.constantFrom(
  "github", "env", "matrix", "steps", "needs", "secrets", ".", "[", "]", "(", ")", ",", "*", "==", "!=", "&&", "||", "!",
  "<", ">=", "'a'", "'it''s'", "1", "0x1F", "-2.5e3", "true", "null", "NaN", "success()", "failure()", "always()",
  "cancelled()", "contains", "startsWith", "format", "join", "toJSON", "fromJSON", "hashFiles", "'{0}'", " ", "${{", "}}",
);
const exprArb = fc.oneof(fc.string({ maxLength: 60 }), fc.array(token, { maxLength: 20 }).map((t) => t.join("")));

function onlyExpressionErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ExpressionError, `unexpected ${(err as Error)?.stack ?? String(err)}`);
    assert.ok((err as Error).message.length > 0);
  }
}

test("expressions: any text either evaluates or raises ExpressionError", () => {
  fc.assert(
    fc.property(exprArb, ctxArb, (expr, ctx) => {
      onlyExpressionErrors(() => evaluateExpression(expr, ctx));
      onlyExpressionErrors(() => interpolate(`a ${"${{"} ${expr} }} b`, ctx));
      onlyExpressionErrors(() => {
        const r = evaluateCondition(expr, ctx);
        assert.equal(typeof r, "boolean");
      });
    }),
    { numRuns: FUZZ_RUNS },
  );
});

test("expressions: interpolation of text without ${{ is the identity", () => {
  fc.assert(
    fc.property(fc.string().filter((s) => !s.includes("${{")), ctxArb, (s, ctx) => {
      assert.equal(interpolate(s, ctx), s);
    }),
    { numRuns: FUZZ_RUNS },
  );
});
