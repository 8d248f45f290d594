import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ExpressionError,
  evaluateCondition,
  evaluateExpression,
  evaluateValue,
  interpolate,
  toExpressionString,
  type EvalContext,
} from "../../src/expressions/index.js";

const base: EvalContext = {
  contexts: {
    github: { event_name: "push", ref: "refs/heads/main", event: { commits: [{ id: "a" }, { id: "b" }] } },
    env: { FOO: "upper", foo: "lower", EMPTY: "" },
    secrets: { TOKEN: "s3cr3t" },
    matrix: { node: 20, os: "linux" },
    needs: { build: { result: "success", outputs: { list: '["a","b"]' } } },
    steps: { s1: { outputs: { v: "1" }, outcome: "failure", conclusion: "success" } },
  },
  status: { failed: false, cancelled: false },
};

const withStatus = (failed: boolean, cancelled: boolean, blocked = false): EvalContext => ({
  ...base,
  status: { failed, cancelled, blocked },
});

test("context lookups are case-insensitive except env", () => {
  assert.equal(evaluateExpression("GITHUB.Event_Name", base), "push");
  assert.equal(evaluateExpression("env.FOO", base), "upper");
  assert.equal(evaluateExpression("env.foo", base), "lower");
  assert.equal(evaluateExpression("env.Foo", base), null);
  assert.equal(evaluateExpression("env['FOO']", base), "upper");
});

test("forge and gitea are aliases of github", () => {
  assert.equal(evaluateExpression("forge.ref", base), "refs/heads/main");
  assert.equal(evaluateExpression("gitea.event_name", base), "push");
});

test("operators, indexing and filters follow GitHub's rules", () => {
  assert.equal(evaluateExpression("matrix.node == '20'", base), true);
  assert.equal(evaluateExpression("matrix.node > 18 && matrix.os", base), "linux");
  assert.equal(evaluateExpression("matrix.missing || 'dflt'", base), "dflt");
  assert.deepEqual(evaluateExpression("github.event.commits.*.id", base), ["a", "b"]);
  assert.equal(evaluateExpression("steps.s1.outcome", base), "failure");
  assert.equal(evaluateExpression("steps.s1.conclusion", base), "success");
});

test("library functions: fromJSON, toJSON, format, join, contains, startsWith, endsWith", () => {
  assert.deepEqual(evaluateExpression("fromJSON(needs.build.outputs.list)", base), ["a", "b"]);
  assert.equal(evaluateExpression("toJSON(matrix)", base), '{\n  "node": 20,\n  "os": "linux"\n}');
  assert.equal(evaluateExpression("format('{0}-{1} {{x}}', matrix.os, matrix.node)", base), "linux-20 {x}");
  assert.equal(evaluateExpression("join(fromJSON(needs.build.outputs.list), '+')", base), "a+b");
  assert.equal(evaluateExpression("contains(fromJSON(needs.build.outputs.list), 'b')", base), true);
  assert.equal(evaluateExpression("contains('Hello', 'ELL')", base), true);
  assert.equal(evaluateExpression("startsWith(github.ref, 'refs/heads/')", base), true);
  assert.equal(evaluateExpression("endsWith(github.ref, 'MAIN')", base), true);
});

test("interpolate coerces values to strings the GitHub way", () => {
  assert.equal(interpolate("node ${{ matrix.node }} on ${{ matrix.os }}", base), "node 20 on linux");
  assert.equal(interpolate("[${{ env.MISSING }}]", base), "[]");
  assert.equal(interpolate("${{ true }} ${{ 1.50 }} ${{ matrix }} ${{ github.event.commits }}", base), "true 1.5 Object Array");
  assert.equal(interpolate("a '${{ '}}' }}' b", base), "a '}}' b");
  assert.equal(interpolate("no expressions", base), "no expressions");
});

test("evaluateValue keeps the type of a lone expression and walks deep", () => {
  assert.deepEqual(
    evaluateValue({ n: "${{ matrix.node }}", s: "v${{ matrix.node }}", a: ["${{ fromJSON('[1,2]') }}", 3], b: true }, base),
    { n: 20, s: "v20", a: [[1, 2], 3], b: true },
  );
  assert.equal(evaluateValue("${{ matrix.os }}", base), "linux");
  assert.equal(evaluateValue(7, base), 7);
});

test("toExpressionString", () => {
  assert.equal(toExpressionString(null), "");
  assert.equal(toExpressionString(undefined), "");
  assert.equal(toExpressionString(false), "false");
  assert.equal(toExpressionString(3), "3");
  assert.equal(toExpressionString(0.1 + 0.2), "0.3");
  assert.equal(toExpressionString([1]), "Array");
  assert.equal(toExpressionString({ a: 1 }), "Object");
  assert.equal(toExpressionString("x"), "x");
});

test("conditions imply success() unless a status function appears", () => {
  assert.equal(evaluateCondition(undefined, base), true);
  assert.equal(evaluateCondition("", withStatus(true, false)), false);
  assert.equal(evaluateCondition("matrix.os == 'linux'", base), true);
  assert.equal(evaluateCondition("matrix.os == 'linux'", withStatus(true, false)), false);
  assert.equal(evaluateCondition("${{ matrix.os == 'linux' }}", withStatus(true, false)), false);
  assert.equal(evaluateCondition("always() && matrix.os == 'linux'", withStatus(true, false)), true);
  assert.equal(evaluateCondition("${{ failure() }}", withStatus(true, false)), true);
  assert.equal(evaluateCondition("failure()", base), false);
  assert.equal(evaluateCondition("FAILURE() || Success()", base), true);
});

test("status functions follow the scope", () => {
  const cases: [EvalContext, Record<string, boolean>][] = [
    [withStatus(false, false), { "success()": true, "failure()": false, "cancelled()": false, "always()": true }],
    [withStatus(true, false), { "success()": false, "failure()": true, "cancelled()": false, "always()": true }],
    [withStatus(false, true), { "success()": false, "failure()": false, "cancelled()": true, "always()": true }],
    [withStatus(true, true), { "success()": false, "failure()": false, "cancelled()": true, "always()": true }],
    [withStatus(false, false, true), { "success()": false, "failure()": false, "cancelled()": false, "always()": true }],
  ];
  for (const [ctx, expected] of cases) {
    for (const [fn, want] of Object.entries(expected)) {
      assert.equal(evaluateCondition(fn, ctx), want, `${fn} with ${JSON.stringify(ctx.status)}`);
    }
  }
});

test("implicit success() short-circuits: a failing scope never evaluates the rest", () => {
  // fromJSON('') would throw; it must not run when success() is false.
  assert.equal(evaluateCondition("fromJSON('')", withStatus(true, false)), false);
  assert.throws(() => evaluateCondition("fromJSON('')", base), ExpressionError);
});

test("mixed literal text in if: is a non-empty string", () => {
  assert.equal(evaluateCondition("${{ false }} text", base), true);
  assert.equal(evaluateCondition("${{ false }} text", withStatus(true, false)), false);
});

test("secrets are refused in if: with a clear error, allowed on request and elsewhere", () => {
  assert.throws(() => evaluateCondition("secrets.TOKEN != ''", base), (e: unknown) => {
    assert.ok(e instanceof ExpressionError);
    assert.match(e.message, /'secrets' context is not allowed in 'if:'/);
    return true;
  });
  assert.throws(() => evaluateCondition("${{ always() && secrets.TOKEN }}", base), /secrets/);
  assert.equal(evaluateCondition("secrets.TOKEN != ''", base, { allowSecrets: true }), true);
  assert.equal(evaluateExpression("secrets.TOKEN", base), "s3cr3t");
});

test("errors throw ExpressionError with a clear message", () => {
  const bad: [string, RegExp][] = [
    ["foo.bar", /Unrecognized named-value: 'foo'.*position 1 within expression: foo\.bar/],
    ["github.x ==", /Unexpected end of expression/],
    ["nope()", /Unrecognized function: 'nope'/],
    ["a &&& b", /Unexpected symbol/],
    ["fromJSON('{')", /Error parsing JSON/],
    ["format('{0}')", /references more arguments/],
    ["success(1)", /Too many parameters/],
  ];
  for (const [expr, re] of bad) {
    assert.throws(() => evaluateExpression(expr, base), (e: unknown) => {
      assert.ok(e instanceof ExpressionError, `${expr}: ${String(e)}`);
      assert.match(e.message, re);
      return true;
    });
  }
  assert.throws(() => interpolate("x ${{ github.ref", base), /not closed/);
});

test("a context not supplied is an unrecognized named-value", () => {
  assert.throws(() => evaluateExpression("inputs.x", base), /Unrecognized named-value: 'inputs'/);
  assert.equal(evaluateExpression("inputs.x", { contexts: { inputs: { x: true } } }), true);
});

test("contexts are read lazily and never modified; prototype names are not keys", () => {
  const event = { big: { nested: [1, 2, 3] }, Dup: "first", dup: "second" };
  const ctx: EvalContext = { contexts: { github: { event }, env: { constructor: "x" } } };
  assert.equal(evaluateExpression("github.constructor", ctx), null);
  assert.equal(evaluateExpression("github.event.toString", ctx), null);
  assert.equal(evaluateExpression("env.constructor", ctx), "x");
  assert.equal(evaluateExpression("env.hasOwnProperty", ctx), null);
  assert.equal(evaluateExpression("github.event.DUP", ctx), "first");
  assert.deepEqual(evaluateExpression("github.event.big.nested.*", ctx), [1, 2, 3]);
  assert.deepEqual(evaluateExpression("fromJSON(toJSON(github.event.big))", ctx), { nested: [1, 2, 3] });
  assert.deepEqual(Object.keys(ctx.contexts.github as object), ["event"]);
  assert.deepEqual(event, { big: { nested: [1, 2, 3] }, Dup: "first", dup: "second" });
});

test("every '' in a string literal is one quote (the library unescapes only the first)", () => {
  assert.equal(evaluateExpression("'It''s'", base), "It's");
  assert.equal(evaluateExpression("'a''b''c'", base), "a'b'c");
  assert.equal(evaluateExpression("format('''{0}''', 'q')", base), "'q'");
  assert.equal(evaluateExpression("''''''", base), "''");
  assert.equal(interpolate("${{ 'x''}}''y' }}", base), "x'}}'y");
});

test("an if: that is one ${{ }} holding a string literal is that string taken as the condition", () => {
  assert.equal(evaluateCondition("${{ 'false' }}", base), false);
  assert.equal(evaluateCondition("${{ 'true' }}", base), true);
  assert.equal(evaluateCondition("${{ '' }}", base), true, "empty: success()");
  assert.equal(evaluateCondition("${{ '' }}", withStatus(true, false)), false, "empty: success() after a failure");
  assert.equal(evaluateCondition("${{ 'matrix.os == ''linux''' }}", base), true);
  assert.equal(evaluateCondition("${{ 'failure()' }}", withStatus(true, false)), true);
  assert.equal(evaluateCondition("${{ 'false' }} ", base), false);
  // Not a lone literal: a non-empty string value is true.
  assert.equal(evaluateCondition("${{ format('{0}', 'false') }}", base), true);
  assert.equal(evaluateCondition("x ${{ 'false' }}", base), true);
});
