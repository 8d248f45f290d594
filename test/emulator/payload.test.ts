import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { goKeyCompare } from "./go-yaml-style.js";
import { buildJobPayload, listJobs, matrixCombinations } from "./job-payload.js";

const WORKFLOW = `name: quoting
on: [push, pull_request]
env:
  B: 1
  A: "yes"
permissions: write-all
jobs:
  first:
    runs-on: [solo]
    steps:
      - run: "true"
  second:
    name: build \${{ matrix.os }}
    needs: first
    runs-on: [native, "\${{ matrix.os }}"]
    continue-on-error: true
    timeout-minutes: 30
    strategy:
      fail-fast: false
      matrix:
        os: [linux, darwin]
    steps:
      - name: multi
        if: "github.ref == 'refs/heads/main'"
        run: |
          echo one
          echo two
        env: {X: 1}
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
          path: "*.txt"
          ref: "a: b"
      - run: " leading space"
        shell: bash
        working-directory: sub
        continue-on-error: true
        timeout-minutes: 5
      - run: "no trailing newline\\nsecond"
`;

describe("workflow payload (go-yaml v3 style)", () => {
  it("lists jobs and matrix combinations in Forgejo's order", () => {
    assert.deepEqual(listJobs(WORKFLOW), ["first", "second"]);
    assert.deepEqual(matrixCombinations(WORKFLOW, "second"), [{ os: "darwin" }, { os: "linux" }]);
    assert.deepEqual(matrixCombinations(WORKFLOW, "first"), []);
  });

  it("writes one job with Go's key order, quoting and block styles", () => {
    const p = buildJobPayload(WORKFLOW, "second", { os: "linux" });
    assert.equal(
      p.yaml,
      `name: quoting
"on": [push, pull_request]
env:
    A: "yes"
    B: "1"
jobs:
    second:
        name: build linux
        runs-on:
            - native
            - linux
        steps:
            - if: "github.ref == 'refs/heads/main'"
              name: multi
              run: |
                echo one
                echo two
              env: {X: 1}
            - uses: actions/checkout@v4
              with:
                fetch-depth: "0"
                path: '*.txt'
                ref: 'a: b'
            - run: ' leading space'
              working-directory: sub
              shell: bash
              continue-on-error: true
              timeout-minutes: "5"
            - run: |-
                no trailing newline
                second
        timeout-minutes: "30"
        strategy:
            fail-fast: "false"
            matrix:
                os:
                    - linux
`,
    );
    assert.deepEqual(p.runsOn, ["native", "linux"]);
    assert.deepEqual(p.needs, ["first"]);
    assert.deepEqual(p.stepNames, ["multi", "actions/checkout@v4", " leading space", "no trailing newline\nsecond"]);
    const back = parse(p.yaml) as { jobs: Record<string, { steps: { run?: string }[] }> };
    assert.equal(back.jobs.second!.steps[3]!.run, "no trailing newline\nsecond", "round-trips");
  });

  it("writes a one-label runs-on as a string and names matrix jobs without a name", () => {
    const p = buildJobPayload(WORKFLOW, "first", undefined);
    assert.match(p.yaml, /\n {8}name: first\n {8}runs-on: solo\n {8}steps:\n {12}- run: "true"\n$/);
    const m = buildJobPayload(
      "on: push\njobs:\n  t:\n    runs-on: x\n    strategy:\n      matrix:\n        b: [1]\n        a: [q]\n    steps: [{run: a}]\n",
      "t",
      { b: 1, a: "q" },
    );
    assert.match(m.yaml, /name: t \(q, 1\)\n/);
    assert.match(m.yaml, /matrix:\n {16}a:\n {20}- q\n {16}b:\n {20}- 1\n/);
  });

  it("folds long plain lines after column 80 and escapes what Go cannot print", () => {
    const words = Array.from({ length: 20 }, () => "aaaaaaaaa");
    const wf = `on: push\njobs:\n  t:\n    runs-on: x\n    steps:\n      - run: ${words.join(" ")}\n      - run: "echo \u{1F680}"\n`;
    const p = buildJobPayload(wf, "t", undefined);
    const line = (n: number) => words.slice(0, n).join(" ");
    assert.ok(
      p.yaml.includes(`            - run: ${line(7)}\n                ${line(7)}\n                ${line(6)}\n`),
      p.yaml,
    );
    assert.ok(p.yaml.includes('            - run: "echo \\U0001F680"\n'), p.yaml);
    const back = parse(p.yaml) as { jobs: { t: { steps: { run: string }[] } } };
    assert.equal(back.jobs.t.steps[0]!.run, words.join(" "));
    assert.equal(back.jobs.t.steps[1]!.run, "echo \u{1F680}");
  });

  it("orders map keys the way go-yaml does", () => {
    assert.deepEqual(["a10", "a2", "a", "B", "a_b"].sort(goKeyCompare), ["B", "a", "a_b", "a2", "a10"]);
  });

  it("refuses a workflow without the job", () => {
    assert.throws(() => buildJobPayload(WORKFLOW, "nope", undefined), /no job "nope"/);
    assert.throws(() => buildJobPayload("a: [", "x", undefined), /workflow YAML/);
  });
});
