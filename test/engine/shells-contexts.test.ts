import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, symlinkSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { shellFormat } from "../../src/engine/shells.js";
import { splitArgs } from "../../src/host/split-args.js";
import { job, runYaml } from "./helpers.js";

test("shell formats: default, builtins, custom, invalid", () => {
  assert.equal(shellFormat(undefined, "/usr/bin:/bin"), "bash -e {0}");
  const noBash = mkdtempSync(join(tmpdir(), "nobash-"));
  symlinkSync("/bin/sh", join(noBash, "sh"));
  assert.equal(shellFormat(undefined, noBash), "sh -e {0}");
  assert.equal(shellFormat("bash", ""), "bash --noprofile --norc -eo pipefail {0}");
  assert.equal(shellFormat("python", ""), "python {0}");
  assert.equal(shellFormat("perl -w {0}", ""), "perl -w {0}");
  assert.throws(() => shellFormat("perl", ""), /Invalid shell option 'perl'.*'\{0\}'/);
  assert.deepEqual(splitArgs(`pwsh -command ". '{0}'"`), ["pwsh", "-command", ". '{0}'"]);
});

test("shells run scripts: bash pipefail, sh, python, custom, invalid, fallback to sh without bash", async () => {
  const noBash = mkdtempSync(join(tmpdir(), "nobash-"));
  for (const tool of ["sh", "echo", "cat"]) symlinkSync(`/bin/${tool}`, join(noBash, tool));
  const r = await runYaml(
    job(`      - shell: bash
        run: false | true; echo "$0" | grep -q '\\.sh$' && echo "ext ok"; echo unreachable
      - if: always()
        shell: bash
        run: echo piped | cat
      - if: always()
        shell: sh
        run: echo "sh says $0"
      - if: always()
        shell: python
        run: |
          import sys, os
          print("py", sys.argv[0].endswith(".py"), os.environ["GITHUB_ACTIONS"])
      - if: always()
        shell: bash -x {0}
        run: echo custom
      - if: always()
        shell: perl
        run: print 1
      - if: always()
        run: echo "fallback \${0##*.}"
        env:
          PATH: ${noBash}
`),
  );
  assert.equal(r.step(0).outcome, "failure", r.stepLines(0).join("\n"));
  assert.ok(!r.stepLines(0).includes("unreachable"));
  assert.ok(r.stepLines(1).includes("piped"));
  assert.ok(r.stepLines(2).some((l) => /^sh says .*\.sh$/.test(l)));
  assert.ok(r.stepLines(3).includes("py True true"), r.stepLines(3).join("\n"));
  assert.ok(r.stepLines(4).includes("+ echo custom"));
  assert.equal(r.step(5).outcome, "failure");
  assert.ok(r.stepLines(5).some((l) => l.includes("Invalid shell option 'perl'")));
  assert.equal(r.step(6).outcome, "success", r.stepLines(6).join("\n"));
  assert.ok(r.stepLines(6).some((l) => /^shell: \S*\/sh -e \{0\}$/.test(l)), r.stepLines(6).join("\n"));
  assert.ok(r.stepLines(6).includes("fallback sh"));
});

test("defaults.run at workflow and job level, working-directory", async () => {
  const r = await runYaml(`on: push
defaults:
  run:
    shell: sh
    working-directory: wf-dir
jobs:
  test:
    runs-on: native
    defaults:
      run:
        working-directory: job-dir
    steps:
      - run: mkdir -p job-dir/sub wf-dir
        working-directory: .
      - run: echo "pwd=$(basename "$PWD") shell=$0"
      - run: echo "sub=$(basename "$PWD")"
        working-directory: job-dir/sub
`);
  assert.equal(r.outcome.result, "success", r.lines.join("\n"));
  assert.ok(r.stepLines(1).some((l) => /^pwd=job-dir shell=.*\.sh$/.test(l)));
  assert.ok(r.stepLines(1).some((l) => /^shell: \S*\/sh -e \{0\}$/.test(l)));
  assert.ok(r.stepLines(2).includes("sub=sub"));
});

test("contexts: github/forge, runner, matrix, needs, vars, inputs, strategy, job, steps outcome vs conclusion, event file", async () => {
  const r = await runYaml(
    `on: push
jobs:
  build:
    runs-on: native
    strategy:
      matrix:
        node: [20]
        os: [linux]
    steps:
      - run: |
          echo "repo=\${{ github.repository }} ws-ok=\${{ github.workspace == env.GITHUB_WORKSPACE_CHECK }}"
          echo "runner=\${{ runner.os }}/\${{ runner.arch }} temp-ok=\${{ runner.temp != '' }}"
          echo "matrix=\${{ matrix.node }}-\${{ matrix.os }} needs=\${{ needs.prep.outputs.v }}/\${{ needs.prep.result }}"
          echo "vars=\${{ vars.V1 }} inputs=\${{ inputs.name }} failfast=\${{ strategy.fail-fast }} status=\${{ job.status }}"
          echo "event-msg=$(python3 -c 'import json,os; print(json.load(open(os.environ["GITHUB_EVENT_PATH"]))["head_commit"]["message"])')"
          echo "token-in-env=\${GITHUB_TOKEN:-absent} ci=$CI gha=$GITHUB_ACTIONS fj=$FORGEJO_ACTIONS gt=$GITEA_ACTIONS"
          echo "runtime=$ACTIONS_CACHE_URL"
        env:
          GITHUB_WORKSPACE_CHECK: \${{ github.workspace }}
      - id: bad
        run: exit 1
        continue-on-error: true
      - run: echo "outcome=\${{ steps.bad.outcome }} conclusion=\${{ steps.bad.conclusion }} status=\${{ job.status }}"
      - id: skipme
        if: false
        run: echo no
      - run: echo "skipped=\${{ steps.skipme.outcome }}"
`,
    {
      needs: { prep: { result: "success", outputs: { v: "from-prep" } } },
      vars: { V1: "var-one" },
      inputs: { name: "in-put" },
      extraEnv: { ACTIONS_CACHE_URL: "http://127.0.0.1:9/cache/" },
    },
  );
  assert.equal(r.outcome.result, "success", r.lines.join("\n"));
  const l = r.stepLines(0);
  assert.ok(l.includes("repo=alice/webapp ws-ok=true"), l.join("\n"));
  assert.ok(l.some((x) => /^runner=Linux\/(X64|ARM64) temp-ok=true$/.test(x)));
  assert.ok(l.includes("matrix=20-linux needs=from-prep/success"));
  assert.ok(l.includes("vars=var-one inputs=in-put failfast=true status=success"));
  assert.ok(l.includes("event-msg=hello"));
  assert.ok(l.includes("token-in-env=absent ci=true gha=true fj=true gt=true"));
  assert.ok(l.includes("runtime=http://127.0.0.1:9/cache/"));
  assert.ok(r.stepLines(2).includes("outcome=failure conclusion=success status=success"));
  assert.ok(r.stepLines(4).includes("skipped=skipped"));
  void readFileSync;
});

test("if: status functions, expression errors fail the step, always() still runs, job-level if", async () => {
  const r = await runYaml(
    job(`      - run: exit 1
      - run: echo not-run
      - if: failure()
        run: echo on-failure
      - if: \${{ success() }}
        run: echo not-on-success
      - if: always() && fromJSON('{')
        run: echo bad-expr
      - if: always()
        run: echo always-ran
      - if: github.ref == 'refs/heads/main' && failure()
        run: echo combined
`),
  );
  assert.equal(r.outcome.result, "failure");
  assert.equal(r.step(1).conclusion, "skipped");
  assert.ok(r.stepLines(2).includes("on-failure"));
  assert.equal(r.step(3).conclusion, "skipped");
  assert.equal(r.step(4).conclusion, "failure");
  assert.ok(r.stepLines(4).some((l) => l.startsWith("##[error]")));
  assert.ok(r.stepLines(5).includes("always-ran"));
  assert.ok(r.stepLines(6).includes("combined"));

  const skipped = await runYaml(job(`      - run: echo x\n`, "    if: github.event_name == 'pull_request'\n"));
  assert.equal(skipped.outcome.result, "skipped");
  assert.equal(skipped.events.filter((e) => e.type === "step-started").length, 0);

  const withStrategy = await runYaml(job(`      - run: echo "idx=\${{ strategy.job-index }}/\${{ strategy.job-total }}"\n`), {
    strategy: { "fail-fast": false, "max-parallel": 2, "job-index": 1, "job-total": 3 },
  });
  assert.ok(withStrategy.stepLines(0).includes("idx=1/3"));

  const needsFailed = await runYaml(job(`      - run: echo x\n`, "    if: failure()\n"), {
    needs: { a: { result: "failure", outputs: {} } },
  });
  assert.equal(needsFailed.outcome.result, "success");
});

test("a bad payload fails the job with positioned errors and still finishes", async () => {
  const r = await runYaml("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo\n        bogus-key: 1\n");
  assert.equal(r.outcome.result, "failure");
  assert.ok(r.lines.some((l) => /Line: 7/.test(l)), r.lines.join("\n"));
  assert.equal(r.events.at(-1)?.type, "job-finished");
});

test("pwsh runs when present, else the step fails with a clear message", async () => {
  const { findOnPath } = await import("../../src/engine/shells.js");
  const r = await runYaml(job(`      - shell: pwsh\n        run: Write-Host "pwsh-ran"\n`));
  if (findOnPath("pwsh", process.env.PATH ?? "")) {
    assert.ok(r.stepLines(0).includes("pwsh-ran"));
  } else {
    assert.equal(r.step(0).outcome, "failure");
    assert.ok(r.stepLines(0).some((l) => l.includes("Failed to start 'pwsh'")));
  }
});
