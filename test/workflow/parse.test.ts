import { test } from "node:test";
import assert from "node:assert/strict";
import { loadYaml, parseWorkflow } from "../../src/workflow/parse-workflow.js";
import { parseTaskPayload, payloadMatrix } from "../../src/workflow/parse-payload.js";
import { formatWorkflowError } from "../../src/workflow/model.js";
import { readWorkflow } from "../../src/workflow/validate-template.js";

const full = `name: CI
on:
  push:
    branches: [main]
  workflow_dispatch:
    inputs:
      debug: { type: boolean, default: false }
      level: { type: choice, options: [low, high], default: low, required: true }
      count: { type: number, default: 3 }
env:
  GLOBAL: g
defaults:
  run:
    shell: bash
    working-directory: top
jobs:
  build:
    name: Build \${{ matrix.node }}
    runs-on: [self-hosted, native]
    timeout-minutes: 30
    continue-on-error: \${{ matrix.experimental }}
    env:
      JOB: j
    defaults:
      run:
        working-directory: sub
    strategy:
      fail-fast: false
      max-parallel: 2
      matrix:
        node: [18, 20]
        include:
          - node: 22
            experimental: true
    outputs:
      version: \${{ steps.v.outputs.version }}
    steps:
      - id: v
        name: Version
        if: github.event_name == 'push'
        run: |
          echo "version=1.\${{ matrix.node }}" >> "$GITHUB_OUTPUT"
          echo done
        shell: sh
        working-directory: deeper
        timeout-minutes: 2
        continue-on-error: true
        env:
          STEP: s
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
          path: \${{ github.workspace }}/src
  deploy:
    needs: build
    if: \${{ always() }}
    runs-on: native
    steps:
      - run: echo \${{ needs.build.outputs.version }}
  call:
    needs: [build, deploy]
    uses: ./.forgejo/workflows/reusable.yml
    with:
      who: world
    secrets: inherit
`;

test("parseWorkflow fills the fields the library's simplified model drops", () => {
  const r = parseWorkflow("ci.yml", full);
  assert.deepEqual(r.errors, []);
  const w = r.value!;
  assert.equal(w.name, "CI");
  assert.equal(w.file, "ci.yml");
  assert.deepEqual(w.events, ["push", "workflow_dispatch"]);
  assert.deepEqual(w.env, { GLOBAL: "g" });
  assert.deepEqual(w.defaults, { run: { shell: "bash", workingDirectory: "top" } });
  assert.deepEqual(w.dispatchInputs, {
    debug: { type: "boolean", default: false },
    level: { type: "choice", options: ["low", "high"], default: "low", required: true },
    count: { type: "number", default: 3 },
  });

  const [build, deploy, call] = w.jobs;
  assert.equal(build!.id, "build");
  assert.equal(build!.name, "Build ${{ matrix.node }}");
  assert.deepEqual(build!.runsOn, ["self-hosted", "native"]);
  assert.equal(build!.timeoutMinutes, 30);
  assert.equal(build!.continueOnError, "${{ matrix.experimental }}");
  assert.deepEqual(build!.env, { JOB: "j" });
  assert.deepEqual(build!.defaults, { run: { workingDirectory: "sub" } });
  assert.deepEqual(build!.strategy, {
    failFast: false,
    maxParallel: 2,
    matrix: { node: [18, 20], include: [{ node: 22, experimental: true }] },
  });
  assert.deepEqual(build!.outputs, { version: "${{ steps.v.outputs.version }}" });
  assert.deepEqual(build!.needs, []);

  const [s0, s1] = build!.steps;
  assert.deepEqual(s0, {
    index: 0,
    id: "v",
    name: "Version",
    if: "github.event_name == 'push'",
    run: 'echo "version=1.${{ matrix.node }}" >> "$GITHUB_OUTPUT"\necho done\n',
    shell: "sh",
    workingDirectory: "deeper",
    timeoutMinutes: 2,
    continueOnError: true,
    env: { STEP: "s" },
    with: {},
  });
  assert.deepEqual(s1, {
    index: 1,
    uses: "actions/checkout@v4",
    with: { "fetch-depth": 0, path: "${{ github.workspace }}/src" },
    env: {},
  });
  assert.ok(!("id" in s1!), "no generated id in the model");

  assert.deepEqual(deploy!.needs, ["build"]);
  assert.equal(deploy!.if, "${{ always() }}");

  assert.equal(call!.uses, "./.forgejo/workflows/reusable.yml");
  assert.deepEqual(call!.with, { who: "world" });
  assert.equal(call!.secrets, "inherit");
  assert.deepEqual(call!.needs, ["build", "deploy"]);
});

test("workflow_call inputs, outputs and secrets", () => {
  const r = parseWorkflow(
    "reusable.yml",
    `on:
  workflow_call:
    inputs:
      who: { type: string, required: true }
      n: { type: number, default: 2 }
    outputs:
      greeting:
        description: the greeting
        value: \${{ jobs.hello.outputs.g }}
    secrets:
      TOKEN: { required: true }
jobs:
  hello:
    runs-on: native
    outputs:
      g: \${{ steps.a.outputs.g }}
    steps:
      - id: a
        run: echo "g=hi \${{ inputs.who }}" >> "$GITHUB_OUTPUT"
`,
  );
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.value!.callInputs, { who: { type: "string", required: true }, n: { type: "number", default: 2 } });
  assert.deepEqual(r.value!.callOutputs, { greeting: { value: "${{ jobs.hello.outputs.g }}", description: "the greeting" } });
  assert.deepEqual(r.value!.callSecrets, { TOKEN: { required: true } });
});

test("schema errors carry line and column", () => {
  const r = parseWorkflow(
    "bad.yml",
    `on: push
jobs:
  a:
    runs-on: x
    stepz:
      - run: echo
`,
  );
  assert.equal(r.value, undefined);
  assert.ok(r.errors.length >= 1);
  const e = r.errors.find((x) => /stepz/.test(x.message))!;
  assert.deepEqual([e.file, e.line, e.column], ["bad.yml", 5, 5]);
  assert.equal(formatWorkflowError(e), "bad.yml (Line: 5, Col: 5): Unexpected value 'stepz'");
});

test("expression errors in the file are reported at their position", () => {
  const r = parseWorkflow(
    "expr.yml",
    `on: push
jobs:
  a:
    runs-on: x
    steps:
      - run: echo \${{ nope.value }}
`,
  );
  assert.equal(r.value, undefined);
  assert.match(r.errors[0]!.message, /Unrecognized named-value: 'nope'/);
  assert.equal(r.errors[0]!.line, 6);
});

test("YAML syntax errors and graph errors are reported", () => {
  const syntax = parseWorkflow("s.yml", "on: push\njobs:\n  a: [\n");
  assert.equal(syntax.value, undefined);
  assert.equal(syntax.errors[0]!.line, 4);
  assert.doesNotMatch(syntax.errors[0]!.message, /\n/, "one line; the position is kept apart");

  const cycle = parseWorkflow(
    "c.yml",
    `on: push
jobs:
  a:
    needs: b
    runs-on: x
    steps: [{ run: echo }]
  b:
    needs: a
    runs-on: x
    steps: [{ run: echo }]
`,
  );
  assert.equal(cycle.value, undefined);
  assert.ok(cycle.errors.length > 0);

  const unknown = parseWorkflow(
    "u.yml",
    `on: push
jobs:
  a:
    runs-on: x
    steps: [{ run: echo }]
  b:
    needs: [a, ghost]
    runs-on: x
    steps: [{ run: echo }]
`,
  );
  assert.equal(unknown.value, undefined);
  assert.ok(unknown.errors.some((e) => /ghost/.test(e.message)), JSON.stringify(unknown.errors));
});

// forgejo-protocol.md §5.3, as go-yaml writes it.
const payload = `name: release
"on":
    push:
        tags:
            - v*
jobs:
    publish:
        name: publish (20, linux)
        runs-on:
            - self-hosted
            - linux
        env:
            VERSION: \${{ needs.build.outputs.version }}
        steps:
            - id: pub
              name: Publish
              run: echo "publishing $VERSION"
        strategy:
            matrix:
                node:
                    - 20
                os:
                    - linux
        outputs:
            url: \${{ steps.pub.outputs.url }}
`;

test("parseTaskPayload reads a go-yaml single-job payload", () => {
  const r = parseTaskPayload(payload, "release.yml");
  assert.deepEqual(r.errors, []);
  const { workflow, job } = r.value!;
  assert.equal(workflow.name, "release");
  assert.deepEqual(workflow.events, ["push"]);
  assert.equal(job.id, "publish");
  assert.equal(job.name, "publish (20, linux)");
  assert.deepEqual(job.needs, []);
  assert.deepEqual(job.env, { VERSION: "${{ needs.build.outputs.version }}" });
  assert.deepEqual(job.outputs, { url: "${{ steps.pub.outputs.url }}" });
  assert.deepEqual(payloadMatrix(job), { node: 20, os: "linux" });
  assert.equal(job.steps[0]!.run, 'echo "publishing $VERSION"');
});

test("parseTaskPayload refuses anything but exactly one job", () => {
  const two = parseTaskPayload(
    `"on": push
jobs:
    a:
        runs-on: x
        steps: [{run: echo}]
    b:
        runs-on: x
        steps: [{run: echo}]
`,
    "two.yml",
  );
  assert.equal(two.value, undefined);
  assert.match(two.errors[0]!.message, /exactly one job, found 2 \(a, b\)/);
  assert.equal(two.errors[0]!.line, 2);

  const bad = parseTaskPayload("not: [valid", "x.yml");
  assert.equal(bad.value, undefined);
  assert.ok(bad.errors.length > 0);
});

test("forge and gitea are accepted wherever github is (Forgejo workflows use them)", () => {
  const r = parseWorkflow(
    "f.yml",
    `on: push
jobs:
  a:
    runs-on: native
    if: forge.event_name == 'push'
    env:
      A: \${{ forge.repository }}
    steps:
      - run: echo \${{ forge.sha }} \${{ gitea.sha }}
        if: \${{ forge.ref != '' }}
`,
  );
  assert.deepEqual(r.errors, []);
  const bad = parseWorkflow("g.yml", "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo ${{ forgery.sha }}\n");
  assert.match(bad.errors[0]!.message, /Unrecognized named-value: 'forgery'/);
});

test("Forgejo's enable-email-notifications is accepted, and must be a boolean", () => {
  const yes = parseWorkflow("e.yml", "on: push\nenable-email-notifications: true\njobs:\n  a:\n    runs-on: x\n    steps: [{run: echo}]\n");
  assert.deepEqual(yes.errors, []);
  const no = parseWorkflow("e.yml", "on: push\nenable-email-notifications: maybe\njobs:\n  a:\n    runs-on: x\n    steps: [{run: echo}]\n");
  assert.equal(no.errors[0]!.line, 2);
});

test("parseTaskPayload accepts go-yaml's quoted numbers and booleans, keeping line numbers", () => {
  // Forgejo's Go structs hold these fields as strings, so go-yaml quotes them.
  const text = `name: ci
"on":
    push:
        branches: [main]
jobs:
    build:
        name: build
        runs-on: native
        steps:
            - run: echo
              continue-on-error: "true"
              timeout-minutes: "3"
              env: {N: "5"}
            - run: echo \${{ nope.x }}
        timeout-minutes: "5"
        strategy:
            fail-fast: "false"
            max-parallel: '2'
`;
  const bad = parseTaskPayload(text, "ci.yml");
  assert.deepEqual(bad.errors.map((e) => [e.line, e.message]), [[14, "Unrecognized named-value: 'nope'"]]);

  const good = parseTaskPayload(text.replace("nope.x", "github.sha"), "ci.yml");
  assert.deepEqual(good.errors, []);
  const job = good.value!.job;
  assert.equal(job.timeoutMinutes, 5);
  assert.deepEqual(job.strategy, { failFast: false, maxParallel: 2 });
  assert.equal(job.steps[0]!.continueOnError, true);
  assert.equal(job.steps[0]!.timeoutMinutes, 3);
  assert.deepEqual(job.steps[0]!.env, { N: "5" }, "env values stay strings");

  // A workflow file written by a person must use real numbers, as on GitHub.
  assert.ok(parseWorkflow("w.yml", text.replace("nope.x", "github.sha")).errors.length > 0);
});

test("the model and the plain data come from one YAML read, the same as a separate one", () => {
  // Anchors, aliases and a `${{ }}` string: what a second parse would have to agree on.
  const text = `on: push
env:
  A: &one "1"
  B: \${{ github.sha }}
jobs:
  one:
    runs-on: native
    env:
      C: *one
    steps:
      - &step
        run: echo "$A"
      - *step
`;
  const parsed = parseWorkflow("w.yml", text);
  assert.deepEqual(parsed.errors, []);
  // The package keeps its reader's document (a private field): without it the data would cost a second read.
  assert.ok(readWorkflow("w.yml", text).doc, "the validator's YAML document is kept");
  const data = parsed.data!();
  assert.deepEqual(data, loadYaml("w.yml", text).value);
  assert.deepEqual((data as { env: unknown }).env, { A: "1", B: "${{ github.sha }}" });
  assert.deepEqual((data as { jobs: { one: { env: unknown; steps: unknown[] } } }).jobs.one.env, { C: "1" });
  assert.equal((data as { jobs: { one: { steps: unknown[] } } }).jobs.one.steps.length, 2);
  // Each call is a copy of its own: changing one does not change the model's source or the next copy.
  (data as { env: Record<string, string> }).env.A = "changed";
  assert.equal((parsed.data!() as { env: Record<string, string> }).env.A, "1");
  assert.equal(parseWorkflow("bad.yml", "on: push\njobs: {}\n").data, undefined);
});
