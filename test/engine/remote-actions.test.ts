import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JobEvent, LogEvent } from "../../src/engine/events.js";
import { makeRepo, startGitHttpServer } from "../helpers/git-http-server.js";
import { runYaml } from "./helpers.js";

const JS_ACTION = {
  "action.yml": `name: remote js
inputs:
  label:
    default: lbl-\${{ github.ref_name }}
runs:
  using: node16
  pre: pre.js
  pre-if: \${{ inputs.label != 'nopre' }}
  main: main.js
  post: post.js
`,
  "pre.js": `const fs = require("fs");
console.log("pre ran label=" + process.env.INPUT_LABEL);
fs.appendFileSync(process.env.GITHUB_STATE, "from_pre=pre-" + process.env.INPUT_LABEL + "\\n");
`,
  "main.js": `const fs = require("fs");
console.log("main ran repo=" + process.env.GITHUB_ACTION_REPOSITORY + " ref=" + process.env.GITHUB_ACTION_REF + " state=" + (process.env.STATE_from_pre || "none"));
fs.appendFileSync(process.env.GITHUB_STATE, "from_main=m\\n");
fs.appendFileSync(process.env.GITHUB_OUTPUT, "label=" + process.env.INPUT_LABEL + "\\n");
`,
  "post.js": `console.log("post ran " + (process.env.STATE_from_pre || "none") + " " + process.env.STATE_from_main);
`,
};

function stageOf(events: JobEvent[], text: string): string | undefined {
  const e = events.find((x): x is LogEvent => x.type === "log" && x.line.startsWith(text));
  return e?.stage;
}

test("remote JavaScript actions: pre at set-up, state to main and post, action env, composite from a remote", async () => {
  const root = mkdtempSync(join(tmpdir(), "git-root-"));
  const server = await startGitHttpServer({ root });
  try {
    await makeRepo(root, "acts/js", JS_ACTION, { tags: ["v1"] });
    await makeRepo(root, "acts/comp", {
      "sub/action.yml": `name: remote composite
outputs:
  o:
    value: \${{ steps.x.outputs.o }}
runs:
  using: composite
  steps:
    - id: x
      shell: bash
      run: echo "o=$(basename "\${{ github.action_path }}")" >> "$GITHUB_OUTPUT"
`,
    });
    const r = await runYaml(
      `on: push
jobs:
  test:
    runs-on: native
    steps:
      - id: js
        uses: acts/js@v1
      - uses: acts/js@v1
        with:
          label: nopre
      - id: c
        uses: acts/comp/sub@main
      - run: echo "js=\${{ steps.js.outputs.label }} comp=\${{ steps.c.outputs.o }}"
`,
      { defaultActionsUrl: server.url },
    );
    assert.equal(r.outcome.result, "success", r.lines.join("\n"));
    // the node16 warning
    assert.ok(r.lines.some((l) => l.startsWith("##[warning]") && l.includes("node16")));
    assert.equal(stageOf(r.events, "pre ran"), "setup");
    assert.equal(r.lines.filter((l) => l.startsWith("pre ran")).length, 1);
    assert.ok(r.stepLines(0).includes("main ran repo=acts/js ref=v1 state=pre-lbl-main"), r.stepLines(0).join("\n"));
    assert.ok(r.stepLines(1).includes("main ran repo=acts/js ref=v1 state=none"));
    assert.ok(r.stepLines(3).includes("js=lbl-main comp=sub"));
    const posts = r.events.filter((e): e is LogEvent => e.type === "log" && e.line.startsWith("post ran"));
    assert.deepEqual(posts.map((p) => [p.stage, p.line]), [["complete", "post ran none m"], ["complete", "post ran pre-lbl-main m"]]);
  } finally {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test("a remote action without a default actions URL fails its step clearly", async () => {
  const r = await runYaml(`on: push\njobs:\n  t:\n    runs-on: x\n    steps:\n      - uses: some/thing@v1\n`);
  assert.equal(r.outcome.result, "failure");
  assert.ok(r.stepLines(0).some((l) => l.includes("default actions URL")), r.lines.join("\n"));
});

test("a checkout-like step clones the job's repository at github.sha with the task token", async () => {
  const root = mkdtempSync(join(tmpdir(), "git-root-"));
  const token = "0123456789abcdef0123456789abcdef01234567";
  const server = await startGitHttpServer({ root, token });
  try {
    const first = await makeRepo(root, "alice/webapp", { "hello.txt": "first\n" });
    await makeRepo(root, "alice/webapp", { "hello.txt": "second\n" });
    const r = await runYaml(
      `on: push
jobs:
  test:
    runs-on: native
    steps:
      - run: |
          git -c credential.helper= clone -q "$(echo "$GITHUB_SERVER_URL" | sed "s#://#://x-access-token:\${{ secrets.GITHUB_TOKEN }}@#")/$GITHUB_REPOSITORY" src
          cd src
          git -c advice.detachedHead=false checkout -q "\${{ github.sha }}"
          echo "content=$(cat hello.txt) token-same=\${{ github.token == secrets.GITHUB_TOKEN }}"
          touch "$RUNNER_TEMP/w" "$HOME/w" && echo writable
`,
      {
        context: {
          repository: "alice/webapp",
          sha: first.commit,
          server_url: server.url + "/",
          token,
          event_name: "push",
        },
        secrets: { GITHUB_TOKEN: token },
      },
    );
    assert.equal(r.outcome.result, "success", r.lines.join("\n"));
    assert.ok(r.stepLines(0).includes("content=first token-same=true"));
    assert.ok(r.stepLines(0).includes("writable"));
    assert.ok(!r.lines.some((l) => l.includes(token)));
  } finally {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
});
