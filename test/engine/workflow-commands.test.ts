import { test } from "node:test";
import assert from "node:assert/strict";
import { parseCommand, WORKFLOW_COMMANDS } from "../../src/engine/workflow-commands.js";
import type { AnnotationEvent } from "../../src/engine/events.js";
import { job, runYaml } from "./helpers.js";

test("parseCommand: properties, escapes, unknown names", () => {
  const c = parseCommand("::warning file=a%2Cb.txt,line=3,Title=x%3Ay%25::m%0Aore%25%3A", WORKFLOW_COMMANDS);
  assert.deepEqual(c, { name: "warning", properties: { file: "a,b.txt", line: "3", title: "x:y%" }, message: "m\nore%%3A" });
  assert.equal(parseCommand("::nosuch::x", WORKFLOW_COMMANDS), undefined);
  assert.equal(parseCommand("text ::warning::x", WORKFLOW_COMMANDS), undefined);
  assert.equal(parseCommand("  ::endgroup::", WORKFLOW_COMMANDS)?.name, "endgroup");
  assert.equal(parseCommand("::warning", WORKFLOW_COMMANDS), undefined);
});

test("group, annotations, add-mask, debug off, stop-commands, echo, unknown commands", async () => {
  const r = await runYaml(
    job(`      - run: |
          echo "::group::Title here"
          echo inside
          echo "::endgroup::"
          echo "::notice::plain notice"
          echo "::error file=src/a.ts,line=10,endLine=12,col=2,endColumn=7,title=Bad%2C thing::broken%0Asecond"
          echo "::add-mask::maskme123"
          echo "value maskme123 end"
          echo "::debug::not shown"
          echo "::stop-commands::tok42"
          echo "::warning::ignored while stopped"
          echo "::tok42::"
          echo "::warning::after resume"
          echo "::echo::on"
          echo "::notice::echoed"
          echo "::echo::off"
          echo "::unknown-cmd::stays as text"
`),
  );
  assert.equal(r.outcome.result, "success");
  const l = r.stepLines(0).slice(r.stepLines(0).indexOf("##[endgroup]") + 1);
  assert.deepEqual(l.slice(0, 3), ["##[group]Title here", "inside", "##[endgroup]"]);
  assert.ok(l.includes("##[notice]plain notice"));
  assert.ok(l.includes("##[error]broken"));
  assert.ok(l.includes("value *** end"));
  assert.ok(!l.some((x) => x.includes("not shown")));
  assert.ok(l.includes("::warning::ignored while stopped"));
  assert.ok(!l.includes("::tok42::"));
  assert.ok(l.includes("##[warning]after resume"));
  assert.ok(l.includes("::notice::echoed"));
  assert.ok(l.includes("::unknown-cmd::stays as text"));
  const ann = r.events.filter((e): e is AnnotationEvent => e.type === "annotation");
  const err = ann.find((a) => a.level === "error");
  assert.deepEqual(
    { ...err, time: undefined },
    { type: "annotation", time: undefined, level: "error", message: "broken\nsecond", file: "src/a.ts", line: 10, endLine: 12, col: 2, endColumn: 7, title: "Bad, thing", stepIndex: 0 },
  );
  assert.deepEqual(ann.map((a) => a.message), ["plain notice", "broken\nsecond", "after resume", "echoed"]);
});

test("debug shows with ACTIONS_STEP_DEBUG; set-output works with a warning; set-env/add-path need opt-in", async () => {
  const r = await runYaml(
    job(`      - id: a
        run: |
          echo "::debug::dbg line"
          echo "::set-output name=old::v1"
          echo "::save-state name=s::x"
      - run: echo "::set-env name=X::1"
      - if: always()
        run: |
          echo "::set-env name=ALLOWED::yes"
          echo "::add-path::/opt/xyz"
        env:
          ACTIONS_ALLOW_UNSECURE_COMMANDS: true
      - if: always()
        run: echo "allowed=$ALLOWED path=$PATH out=\${{ steps.a.outputs.old }}"
`),
    { secrets: { ACTIONS_STEP_DEBUG: "true" } },
  );
  assert.ok(r.stepLines(0).includes("##[debug]dbg line"));
  assert.ok(r.stepLines(0).some((l) => l.startsWith("##[warning]The `set-output` command is deprecated")));
  assert.equal(r.step(0).outcome, "success");
  assert.deepEqual(r.step(0).outputs, { old: "v1" });
  assert.equal(r.step(1).outcome, "failure");
  assert.ok(r.stepLines(1).some((l) => l.includes("The `set-env` command is disabled")));
  assert.equal(r.step(2).outcome, "success");
  const last = r.stepLines(3).find((l) => l.startsWith("allowed="));
  assert.ok(last?.startsWith("allowed=yes path=/opt/xyz:"), last);
  assert.ok(last?.endsWith("out=v1"));
});
