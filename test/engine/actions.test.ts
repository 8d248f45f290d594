import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AnnotationEvent, LogEvent } from "../../src/engine/events.js";
import { runYaml } from "./helpers.js";

const CORE = fileURLToPath(new URL("../../node_modules/@actions/core/lib/core.js", import.meta.url));

/** A workspace the job can use also when it runs as another uid. */
function workspace(): string {
  const ws = mkdtempSync(join(tmpdir(), "ws-"));
  chmodSync(ws, 0o777);
  return ws;
}

function write(root: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    const p = join(root, rel);
    mkdirSync(join(p, ".."), { recursive: true });
    writeFileSync(p, text);
  }
}

const CORE_ACTION = {
  "act/action.yml": `name: core test
inputs:
  who:
    required: true
  with-default:
    default: \${{ github.repository }}-def
  needed:
    required: true
  fail:
    default: "no"
outputs:
  greeting:
    description: the greeting
runs:
  using: node20
  main: main.mjs
  post: post.mjs
`,
  "act/main.mjs": `import * as core from ${JSON.stringify(CORE)};
const who = core.getInput("who", { required: true });
core.setOutput("greeting", "hello " + who);
core.exportVariable("EXPORTED", "exp-" + who);
core.addPath("/opt/added-by-" + who);
core.setSecret("action-secret-" + who);
console.log("printing action-secret-" + who);
core.saveState("st", "state-of-" + who);
core.info("default=" + core.getInput("with-default"));
core.info("paths " + (process.env.GITHUB_ACTION_PATH.endsWith("/act")) + " " + process.env.GITHUB_ACTION_REPOSITORY + "|" + process.env.GITHUB_ACTION_REF + "|" + process.env.INPUT_WHO);
await core.summary.addHeading("Summary from " + who).write();
core.startGroup("grp");
core.info("in grp");
core.endGroup();
core.notice("a notice");
core.warning("a warning", { file: "x.js", startLine: 2 });
core.error("an error", { title: "T" });
if (core.getInput("fail") === "yes") core.setFailed("failed on purpose");
`,
  "act/post.mjs": `import * as core from ${JSON.stringify(CORE)};
core.info("post state=" + core.getState("st") + " who=" + process.env.INPUT_WHO);
if (core.getState("st") === "state-of-postfail") core.setFailed("post failed");
`,
};

test("a JavaScript action written with the real @actions/core", async () => {
  const ws = workspace();
  try {
    write(ws, CORE_ACTION);
    const r = await runYaml(
      `on: push
jobs:
  test:
    runs-on: native
    steps:
      - id: a
        uses: ./act
        with:
          who: world
          unknown-one: x
      - run: echo "out=\${{ steps.a.outputs.greeting }} exp=$EXPORTED path=$PATH"
      - id: b
        uses: ./act
        with:
          who: second
          needed: y
          fail: yes
        continue-on-error: true
`,
      { workspaceDir: ws },
    );
    assert.equal(r.outcome.result, "success", r.lines.join("\n"));
    const l0 = r.stepLines(0);
    // GitHub's header block for a uses: step, with every input's value
    assert.deepEqual(l0.slice(l0.indexOf("##[group]Run ./act"), l0.indexOf("##[group]Run ./act") + 3), ["##[group]Run ./act", "with:", "  who: world"]);
    assert.ok(l0.includes("  with-default: alice/webapp-def"), l0.join("\n"));
    assert.ok(l0.some((l) => l.includes("Unexpected input(s) 'unknown-one'")), l0.join("\n"));
    assert.ok(l0.some((l) => l.includes("Input required and not supplied: needed")));
    assert.ok(l0.includes("printing ***"), l0.join("\n"));
    assert.ok(l0.includes("default=alice/webapp-def"));
    assert.ok(l0.includes("paths true ||world"));
    assert.ok(l0.includes("##[group]grp") && l0.includes("in grp") && l0.includes("##[endgroup]"));
    assert.deepEqual(r.step(0).outputs, { greeting: "hello world" });
    const l1 = r.stepLines(1).at(-1) ?? "";
    assert.ok(l1.startsWith("out=hello world exp=exp-world path=/opt/added-by-world:"), l1);
    assert.equal(r.step(2).outcome, "failure");
    assert.ok(r.stepLines(2).includes("##[error]failed on purpose"));
    const ann = r.events.filter((e): e is AnnotationEvent => e.type === "annotation" && e.stepIndex === 0);
    assert.deepEqual(ann.map((a) => [a.level, a.message]), [["notice", "a notice"], ["warning", "a warning"], ["error", "an error"]]);
    assert.equal(ann[1]?.file, "x.js");
    assert.equal(ann[1]?.line, 2);
    assert.equal(ann[2]?.title, "T");
    // post steps: in reverse order, each with its own state, in the "complete" stage
    const complete = r.events.filter((e): e is LogEvent => e.type === "log" && e.stage === "complete").map((e) => e.line);
    const posts = complete.filter((l) => l.startsWith("post state="));
    assert.deepEqual(posts, ["post state=state-of-second who=second", "post state=state-of-world who=world"]);
    const summary = r.events.find((e) => e.type === "summary");
    assert.ok(summary?.type === "summary" && summary.markdown.includes("<h1>Summary from world</h1>"));
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
});

test("a failing post step fails the job; post steps run after cancellation-free failures", async () => {
  const ws = workspace();
  try {
    write(ws, CORE_ACTION);
    const r = await runYaml(
      `on: push
jobs:
  test:
    runs-on: native
    steps:
      - uses: ./act
        with: { who: postfail, needed: y }
      - run: exit 1
`,
      { workspaceDir: ws },
    );
    assert.equal(r.outcome.result, "failure");
    assert.ok(r.lines.includes("##[error]post failed"), r.lines.join("\n"));
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
});

test("composite actions: nesting, inputs, outputs after failure, scoped status, shell required, no job defaults", async () => {
  const ws = workspace();
  try {
    write(ws, {
      ...CORE_ACTION,
      "comp/action.yml": `name: comp
inputs:
  x:
    default: dx
outputs:
  out:
    value: \${{ steps.inner.outputs.v }}
  nested:
    value: \${{ steps.n.outputs.greeting }}-\${{ steps.deeper.outputs.deep }}
runs:
  using: composite
  steps:
    - id: inner
      shell: bash
      run: echo "v=\${{ inputs.x }}-inner" >> "$GITHUB_OUTPUT"
    - id: n
      uses: ./act
      with:
        who: nested
        needed: y
    - id: deeper
      uses: ./comp2
    - shell: bash
      run: echo "pwd=$(basename "$PWD") env=$COMP_ENV deep-env=$DEEP_SET"
      env:
        COMP_ENV: \${{ inputs.x }}-env
    - shell: bash
      run: exit 1
    - if: failure()
      shell: bash
      run: echo "composite failure seen"
    - shell: bash
      run: echo "not after failure"
    - if: always()
      shell: bash
      run: echo "ap=\${{ github.action_path == env.GITHUB_ACTION_PATH_X }}"
      env:
        GITHUB_ACTION_PATH_X: \${{ github.action_path }}
`,
      "comp2/action.yml": `name: comp2
outputs:
  deep:
    value: \${{ steps.d.outputs.deep }}
runs:
  using: composite
  steps:
    - id: d
      shell: sh
      run: |
        echo "deep=level2" >> "$GITHUB_OUTPUT"
        echo "DEEP_SET=yes" >> "$GITHUB_ENV"
`,
      "noshell/action.yml": `name: noshell
runs:
  using: composite
  steps:
    - run: echo hi
`,
    });
    const r = await runYaml(
      `on: push
jobs:
  test:
    runs-on: native
    defaults:
      run:
        working-directory: does-not-exist
    steps:
      - id: c
        uses: ./comp
        with:
          x: given
        continue-on-error: true
      - run: echo "out=\${{ steps.c.outputs.out }} nested=\${{ steps.c.outputs.nested }} outcome=\${{ steps.c.outcome }} deep=$DEEP_SET"
        working-directory: .
      - uses: ./noshell
`,
      { workspaceDir: ws },
    );
    const l0 = r.stepLines(0);
    assert.equal(r.step(0).outcome, "failure", l0.join("\n"));
    assert.deepEqual(r.step(0).outputs, { out: "given-inner", nested: "hello nested-level2" });
    assert.ok(l0.some((l) => /^pwd=ws-\w+ env=given-env deep-env=yes$/.test(l)), l0.join("\n"));
    assert.ok(l0.includes("composite failure seen"));
    assert.ok(!l0.includes("not after failure"));
    assert.ok(l0.includes("ap=true"));
    assert.ok(r.stepLines(1).includes("out=given-inner nested=hello nested-level2 outcome=failure deep=yes"), r.stepLines(1).join("\n"));
    assert.equal(r.step(2).outcome, "failure");
    assert.ok(r.stepLines(2).some((l) => /shell' is required|Required property is missing: shell/.test(l)), r.stepLines(2).join("\n"));
    // the nested JS action's post step ran
    assert.ok(r.lines.includes("post state=state-of-nested who=nested"));
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
});

test("docker actions fail the step with a clear message; a missing local action fails the step", async () => {
  const ws = workspace();
  try {
    write(ws, { "dock/action.yml": "name: d\nruns:\n  using: docker\n  image: Dockerfile\n" });
    const r = await runYaml(
      `on: push
jobs:
  test:
    runs-on: native
    steps:
      - uses: docker://alpine:3
      - if: always()
        uses: ./dock
      - if: always()
        uses: ./missing
      - if: always()
        run: echo still-here
`,
      { workspaceDir: ws },
    );
    assert.equal(r.outcome.result, "failure");
    assert.ok(r.stepLines(0).some((l) => l.includes("docker actions need a container job")));
    assert.ok(r.stepLines(1).some((l) => l.includes("docker actions need a container job")));
    assert.equal(r.step(2).outcome, "failure");
    assert.ok(r.stepLines(2).some((l) => l.startsWith("##[error]")));
    assert.ok(r.stepLines(3).includes("still-here"));
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
});

test("post steps still run after cancellation; Forgejo `sh` actions run", async () => {
  const ws = workspace();
  try {
    write(ws, {
      ...CORE_ACTION,
      "shact/action.yml": "name: sh action\ninputs:\n  v:\n    default: dv\nruns:\n  using: sh\n  main: run.sh\n",
      "shact/run.sh": 'echo "sh action v=$INPUT_V"\necho "r=ok" >> "$GITHUB_OUTPUT"\n',
    });
    const ac = new AbortController();
    const r = await runYaml(
      `on: push
jobs:
  test:
    runs-on: native
    steps:
      - id: s
        uses: ./shact
      - uses: ./act
        with: { who: cancelme, needed: y }
      - run: echo started-sleep; sleep 60
      - run: echo never
`,
      {
        workspaceDir: ws,
        onEvent: (e) => {
          if (e.type === "log" && e.line === "started-sleep") setTimeout(() => ac.abort(), 50);
        },
        signal: ac.signal,
      },
    );
    assert.equal(r.outcome.result, "cancelled");
    assert.ok(r.stepLines(0).includes("sh action v=dv"));
    assert.deepEqual(r.step(0).outputs, { r: "ok" });
    assert.equal(r.step(2).conclusion, "cancelled");
    assert.equal(r.step(3).conclusion, "skipped");
    assert.ok(r.lines.includes("post state=state-of-cancelme who=cancelme"), r.lines.join("\n"));
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
});

test("the node binary comes from the request (host.node) when given", async () => {
  const ws = workspace();
  try {
    write(ws, {
      "n/action.yml": "name: n\nruns:\n  using: node24\n  main: m.js\n",
      "n/m.js": 'console.log("node main ran via " + process.env.VIA_WRAPPER);\n',
      "bin/mynode": `#!/bin/sh\nVIA_WRAPPER=wrapper exec ${process.execPath} "$@"\n`,
    });
    chmodSync(join(ws, "bin/mynode"), 0o755);
    const r = await runYaml(`on: push\njobs:\n  t:\n    runs-on: x\n    steps:\n      - uses: ./n\n`, {
      workspaceDir: ws,
      nodePath: join(ws, "bin/mynode"),
    });
    assert.equal(r.outcome.result, "success", r.lines.join("\n"));
    assert.ok(r.stepLines(0).includes("node main ran via wrapper"));
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
});

test("composite inner steps: continue-on-error, timeout-minutes, working-directory, GITHUB_ENV inside", async () => {
  const ws = workspace();
  try {
    write(ws, {
      "c/action.yml": `name: c
runs:
  using: composite
  steps:
    - shell: bash
      run: exit 7
      continue-on-error: true
    - id: slow
      shell: bash
      run: sleep 30
      timeout-minutes: 0.01
      continue-on-error: true
    - shell: bash
      working-directory: sub
      run: |
        echo "inner pwd=$(basename "$PWD") slow=\${{ steps.slow.outcome }}/\${{ steps.slow.conclusion }}"
        echo "FROM_INNER=1" >> "$GITHUB_ENV"
    - shell: bash
      run: echo "inner sees FROM_INNER=$FROM_INNER"
`,
      "sub/.keep": "",
    });
    const r = await runYaml(`on: push\njobs:\n  t:\n    runs-on: x\n    steps:\n      - uses: ./c\n      - run: echo "outer sees FROM_INNER=$FROM_INNER"\n`, { workspaceDir: ws });
    assert.equal(r.outcome.result, "success", r.lines.join("\n"));
    const l = r.stepLines(0);
    assert.ok(l.includes("inner pwd=sub slow=failure/success"), l.join("\n"));
    assert.ok(l.some((x) => x.includes("has timed out after 0.01 minutes")));
    assert.ok(l.includes("inner sees FROM_INNER=1"));
    assert.ok(r.stepLines(1).includes("outer sees FROM_INNER=1"));
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
});

test("a timeout on a composite step stops its inner steps", async () => {
  const ws = workspace();
  try {
    write(ws, {
      "slow/action.yml": "name: slow\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: sleep 30\n    - shell: bash\n      run: echo after-sleep\n",
    });
    const started = Date.now();
    const r = await runYaml(
      `on: push\njobs:\n  t:\n    runs-on: x\n    steps:\n      - uses: ./slow\n        timeout-minutes: 0.02\n      - if: always()\n        run: echo next\n`,
      { workspaceDir: ws },
    );
    assert.ok(Date.now() - started < 20_000);
    assert.equal(r.step(0).outcome, "failure");
    assert.ok(r.stepLines(0).some((l) => l.includes("has timed out after 0.02 minutes")));
    assert.ok(!r.stepLines(0).includes("after-sleep"));
    assert.ok(r.stepLines(1).includes("next"));
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
});
