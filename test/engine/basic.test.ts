import { test } from "node:test";
import assert from "node:assert/strict";
import { job, runYaml } from "./helpers.js";

test("run steps: events in order, stages, exit code decides the result", async () => {
  const r = await runYaml(
    job(`      - run: echo hello
      - name: fails
        run: |
          echo before
          exit 3
      - run: echo never
`),
  );
  assert.equal(r.outcome.result, "failure");
  const kinds = r.events.map((e) => (e.type === "log" ? `log:${e.stage}${e.stepIndex ?? ""}` : e.type));
  assert.equal(kinds[0], "log:setup");
  assert.equal(kinds.at(-1), "job-finished");
  const started = r.events.filter((e) => e.type === "step-started").map((e) => (e as { index: number }).index);
  assert.deepEqual(started, [0, 1, 2]);
  assert.ok(r.stepLines(0).includes("hello"));
  assert.ok(r.stepLines(1).includes("before"));
  assert.ok(r.stepLines(1).includes("##[error]Process completed with exit code 3."));
  assert.equal(r.step(0).conclusion, "success");
  assert.equal(r.step(1).outcome, "failure");
  assert.equal(r.step(2).conclusion, "skipped");
  assert.equal(r.step(1).id, "__run_2");
  // Every step row lies between its step-started and step-finished.
  let current: number | undefined;
  for (const e of r.events) {
    if (e.type === "step-started") current = e.index;
    if (e.type === "step-finished") current = undefined;
    if (e.type === "log" && e.stage === "step") assert.equal(e.stepIndex, current);
  }
});

test("secrets are masked in logs and env precedence is workflow < job < step", async () => {
  const r = await runYaml(
    `on: push
env:
  A: wf
  B: wf
  C: wf
jobs:
  test:
    runs-on: native
    env:
      B: job
      C: job
    steps:
      - run: echo "$A $B $C token=$TOK"
        env:
          C: step
          TOK: \${{ secrets.TOKEN }}
`,
    { secrets: { TOKEN: "s3cr3t-value" } },
  );
  assert.equal(r.outcome.result, "success");
  assert.ok(r.stepLines(0).includes("wf job step token=***"), r.stepLines(0).join("\n"));
  assert.ok(!r.lines.some((l) => l.includes("s3cr3t-value")));
});

test("runner envs are lowest; GITHUB_ENV overrides job env but not step env", async () => {
  const r = await runYaml(
    job(
      `      - run: echo "R=$R J=$J"
      - run: |
          echo "J=from-file" >> "$GITHUB_ENV"
          echo "S=from-file" >> "$GITHUB_ENV"
      - run: echo "J=$J S=$S ctx=\${{ env.J }}"
        env:
          S: from-step
`,
      "    env:\n      J: job\n      R: job-wins\n",
    ),
    { runnerEnv: { R: "runner", ONLY_RUNNER: "x" } },
  );
  assert.ok(r.stepLines(0).includes("R=job-wins J=job"));
  assert.ok(r.stepLines(2).includes("J=from-file S=from-step ctx=from-file"), r.stepLines(2).join("\n"));
});

test("a Forgejo task payload (one expanded job, needs erased) runs with needs and matrix", async () => {
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
              name: Publish \${{ matrix.node }}
              run: |
                echo "publishing $VERSION on \${{ matrix.os }}"
                echo "url=https://example.invalid/$VERSION" >> "$GITHUB_OUTPUT"
        strategy:
            matrix:
                node:
                    - 20
                os:
                    - linux
        outputs:
            url: \${{ steps.pub.outputs.url }}
`;
  const r = await runYaml(payload, {
    needs: { build: { result: "success", outputs: { version: "1.4.0" } }, lint: { result: "success", outputs: {} } },
  });
  assert.equal(r.outcome.result, "success", r.lines.join("\n"));
  const started = r.events.find((e) => e.type === "step-started");
  assert.ok(started?.type === "step-started" && started.name === "Publish 20" && started.id === "pub" && started.index === 0);
  assert.ok(r.stepLines(0).includes("publishing 1.4.0 on linux"));
  assert.deepEqual(r.outcome.outputs, { url: "https://example.invalid/1.4.0" });
  const fin = r.events.at(-1);
  assert.ok(fin?.type === "job-finished" && fin.result === "success");
});

test("default GITHUB_*/RUNNER_* variables cannot be overwritten by env:, CI can; runner.envs RUNNER_TOOL_CACHE is honoured", async () => {
  const r = await runYaml(
    job(`      - run: echo "sha=$GITHUB_SHA os=$RUNNER_OS ci=$CI tc=$RUNNER_TOOL_CACHE tok=$GITHUB_TOKEN"
        env:
          GITHUB_SHA: fake
          RUNNER_OS: Plan9
          CI: "no"
          GITHUB_TOKEN: set-by-workflow
`),
    { runnerEnv: { RUNNER_TOOL_CACHE: "/opt/shared-tools" } },
  );
  assert.ok(
    r.stepLines(0).includes("sha=1f2e3d4c5b6a79880796a5b4c3d2e1f001122334 os=Linux ci=no tc=/opt/shared-tools tok=set-by-workflow"),
    r.stepLines(0).join("\n"),
  );
});
