// Job containers through the real CLI (`exec`) against the local podman
// service: run steps, env and file commands, a JS action run by the
// container's node, a composite action, services reached by name, volume
// rules, and nothing left on the daemon afterwards.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SERVICE_IMAGE, TEST_IMAGE, cli, execCleanedUp, podmanMissing } from "./helpers.js";

let skip: string | undefined;
before(async () => {
  skip = await podmanMissing();
});

async function repo(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "nr-ct-"));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, "repo", name, ".."), { recursive: true });
    await writeFile(join(dir, "repo", name), text);
  }
  return dir;
}

describe("job container (exec)", { timeout: 240_000 }, () => {
  test("run steps, env, file commands, a JS action with the container's node, a composite action", async (t) => {
    if (skip) return t.skip(skip);
    const dir = await repo({
      ".forgejo/workflows/ci.yml": `on: push
jobs:
  t:
    runs-on: ubuntu-latest
    container:
      image: ${TEST_IMAGE}
      env:
        FROM_CONTAINER: c1
    env:
      FROM_JOB: j1
    steps:
      - id: one
        run: |
          echo "pid1=$(tr '\\0' ' ' < /proc/1/cmdline)"
          echo "env=$FROM_CONTAINER/$FROM_JOB ws=$GITHUB_WORKSPACE pwd=$(pwd)"
          echo "SET_BY_ENV=e1" >> "$GITHUB_ENV"
          echo "v=o1" >> "$GITHUB_OUTPUT"
          mkdir -p "$RUNNER_TEMP/bin" && printf '#!/bin/sh\\necho on-path\\n' > "$RUNNER_TEMP/bin/mytool" && chmod +x "$RUNNER_TEMP/bin/mytool"
          echo "$RUNNER_TEMP/bin" >> "$GITHUB_PATH"
          echo "made in container" > made.txt
      - run: echo "env2=$SET_BY_ENV out=\${{ steps.one.outputs.v }} tool=$(mytool)"
      - id: js
        uses: ./.github/actions/js
        with:
          who: world
          the-word: hyphenated
      - run: echo "js-out=\${{ steps.js.outputs.greeting }}"
      - uses: ./.github/actions/comp
        with:
          word: hi
`,
      ".github/actions/js/action.yml": "name: js\ninputs:\n  who: { required: true }\n  the-word: {}\noutputs:\n  greeting: {}\nruns:\n  using: node20\n  main: index.js\n",
      ".github/actions/js/index.js": `const fs = require("fs");
const who = process.env.INPUT_WHO;
console.log("hyphen-input=" + process.env["INPUT_THE-WORD"]);
console.log("node=" + process.execPath + " " + process.version + " pid1=" + fs.readFileSync("/proc/1/cmdline", "utf8").split("\\0")[0]);
fs.appendFileSync(process.env.GITHUB_OUTPUT, "greeting=hello " + who + "\\n");
`,
      ".github/actions/comp/action.yml":
        "name: comp\ninputs:\n  word: {}\nruns:\n  using: composite\n  steps:\n    - run: echo \"comp=${{ inputs.word }} in $(tr '\\0' ' ' < /proc/1/cmdline)\"\n      shell: sh\n",
    });
    try {
      const res = await cli(["exec", "-C", join(dir, "repo")], dir);
      assert.equal(res.code, 0, res.out);
      assert.match(res.out, /pid1=tail -f \/dev\/null/);
      assert.match(res.out, new RegExp(`env=c1/j1 ws=${join(dir, "repo")} pwd=${join(dir, "repo")}`));
      assert.match(res.out, /env2=e1 out=o1 tool=on-path/);
      assert.match(res.out, /node=\/usr\/bin\/node v\d+\.\d+\.\d+ pid1=tail/);
      assert.match(res.out, /js-out=hello world/);
      assert.match(res.out, /hyphen-input=hyphenated/, "inputs whose names are not shell identifiers reach the action");
      assert.match(res.out, /comp=hi in tail -f \/dev\/null/);
      // The workspace is the same directory on both sides.
      const { readFile } = await import("node:fs/promises");
      assert.equal(await readFile(join(dir, "repo", "made.txt"), "utf8"), "made in container\n");
      await execCleanedUp(res.pid);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("-P label=image and -i image pick the job container; a failing step fails the job", async (t) => {
    if (skip) return t.skip(skip);
    const dir = await repo({
      ".forgejo/workflows/ci.yml": `on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo "a-in=$(tr '\\0' ' ' < /proc/1/cmdline)"
  b:
    runs-on: other
    steps:
      - run: echo "b-in=$(tr '\\0' ' ' < /proc/1/cmdline)"; exit 3
`,
    });
    try {
      const res = await cli(["exec", "-C", join(dir, "repo"), "-P", `ubuntu-latest=${TEST_IMAGE}`, "-i", TEST_IMAGE], dir);
      assert.equal(res.code, 1, res.out);
      assert.match(res.out, /a-in=tail -f \/dev\/null/);
      assert.match(res.out, /b-in=tail -f \/dev\/null/);
      assert.match(res.out, /exit code 3|exited with 3|code 3/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("docker actions: one from an image (args), one from a Dockerfile built once (inputs, outputs, file commands)", async (t) => {
    if (skip) return t.skip(skip);
    const dir = await repo({
      ".forgejo/workflows/ci.yml": `on: push
jobs:
  t:
    runs-on: x
    container: ${TEST_IMAGE}
    steps:
      - id: img
        uses: docker://${TEST_IMAGE}
        with:
          args: sh -c "echo image-action-ws=$GITHUB_WORKSPACE; echo img=yes >> $GITHUB_OUTPUT"
      - id: df
        uses: ./act
        with:
          who: you
      - uses: ./act
        with:
          who: again
      - run: echo "outs=\${{ steps.img.outputs.img }}/\${{ steps.df.outputs.greet }}"
`,
      "act/action.yml": "name: df\ninputs:\n  who: { required: true }\noutputs:\n  greet: {}\nruns:\n  using: docker\n  image: Dockerfile\n  args: [hello, '${{ inputs.who }}']\n",
      "act/Dockerfile": `FROM ${TEST_IMAGE}\nCOPY entry.sh /entry.sh\nENTRYPOINT ["sh", "/entry.sh"]\n`,
      "act/entry.sh": 'echo "df-action args=$* input=$INPUT_WHO pid1=$(tr \'\\0\' \' \' < /proc/1/cmdline)"\necho "greet=$1 $2" >> "$GITHUB_OUTPUT"\n',
    });
    try {
      const res = await cli(["exec", "-C", join(dir, "repo")], dir);
      assert.equal(res.code, 0, res.out);
      assert.match(res.out, new RegExp(`image-action-ws=${join(dir, "repo")}`));
      assert.match(res.out, /df-action args=hello you input=you pid1=sh \/entry\.sh/);
      assert.match(res.out, /df-action args=hello again input=again/);
      assert.equal(res.out.match(/Building image native-runner-action-/g)?.length ?? 0, res.out.includes("Building image") ? 1 : 0, "built at most once per run");
      assert.match(res.out, /outs=yes\/hello you/);
      await execCleanedUp(res.pid);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("services: two services reached by their key, one with a health check awaited", async (t) => {
    if (skip) return t.skip(skip);
    const dir = await repo({
      ".forgejo/workflows/ci.yml": `on: push
jobs:
  t:
    runs-on: x
    container: ${TEST_IMAGE}
    services:
      web:
        image: ${SERVICE_IMAGE}
        options: --health-cmd "wget -q -O- http://127.0.0.1/" --health-interval 1s --health-retries 30
      other:
        image: ${SERVICE_IMAGE}
    steps:
      - run: echo "web=$(wget -q -O- http://web/) other=$(wget -q -O- http://other/)"
`,
    });
    try {
      const res = await cli(["exec", "-C", join(dir, "repo")], dir);
      assert.equal(res.code, 0, res.out);
      assert.match(res.out, /Service web is healthy/);
      assert.match(res.out, /web=service-ok other=service-ok/);
      await execCleanedUp(res.pid);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a failing service fails the job before any step, and its log is in the job log", async (t) => {
    if (skip) return t.skip(skip);
    const dir = await repo({
      ".forgejo/workflows/ci.yml": `on: push
jobs:
  t:
    runs-on: x
    container: ${TEST_IMAGE}
    services:
      bad:
        image: ${SERVICE_IMAGE}
        options: --health-cmd "wget -q -O- http://127.0.0.1/missing" --health-interval 1s --health-retries 2
    steps:
      - run: echo step-ran
`,
    });
    try {
      const res = await cli(["exec", "-C", join(dir, "repo")], dir);
      assert.equal(res.code, 1, res.out);
      assert.match(res.out, /Service bad is unhealthy/);
      assert.match(res.out, /url:\/missing/, "the service's own log is shown");
      assert.doesNotMatch(res.out, /^.*│ step-ran$/m);
      await execCleanedUp(res.pid);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
