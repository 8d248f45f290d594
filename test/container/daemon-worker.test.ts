// A container job in the daemon runs its engine in a job worker, as the job's
// own uid, like a host job; the daemon runs each process in the container on
// the worker's behalf. Everything a container job does must work that way:
// run steps and file commands, a JS action on the container's node, a
// composite action, docker actions from an image and from a Dockerfile (whose
// context the worker sends; its image is reused for the same content).

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdir, rm } from "node:fs/promises";
import { label, logText, makeBase, skipReason, startRunner, type HostileRunner } from "../hostile/harness.js";
import { waitUntil } from "../daemon/harness.js";
import { TEST_IMAGE, engine, labelled, podmanMissing } from "./helpers.js";
import { LABEL_RUNNER } from "../../src/container/engine-api.js";
import { runnerIdFor } from "../../src/container/daemon-runtime.js";

const backend = { isolation: "uid" as const, cgroups: "raw" as const };

const writeActions = `      - run: |
          mkdir -p act js comp
          printf 'name: df\\ninputs:\\n  who: { required: true }\\noutputs:\\n  greet: {}\\nruns:\\n  using: docker\\n  image: Dockerfile\\n  args: [hello, "\\x24{{ inputs.who }}"]\\n' > act/action.yml
          printf 'FROM ${TEST_IMAGE}\\nCOPY entry.sh /entry.sh\\nENTRYPOINT ["sh", "/entry.sh"]\\n' > act/Dockerfile
          printf 'echo "df-action args=$* input=$INPUT_WHO"\\necho "greet=$1 $2" >> "$GITHUB_OUTPUT"\\n' > act/entry.sh
          printf 'name: js\\ninputs:\\n  who: {}\\noutputs:\\n  greeting: {}\\nruns:\\n  using: node20\\n  main: index.js\\n' > js/action.yml
          printf 'const fs = require("fs");\\nconsole.log("node=" + process.execPath);\\nfs.appendFileSync(process.env.GITHUB_OUTPUT, "greeting=hello " + process.env.INPUT_WHO + "\\\\n");\\n' > js/index.js
          printf 'name: comp\\nruns:\\n  using: composite\\n  steps:\\n    - run: echo "comp-pid1=$(tr "\\\\\\\\0" " " < /proc/1/cmdline)"\\n      shell: sh\\n' > comp/action.yml
`;

const job = `on: push
jobs:
  j:
    runs-on: ct
    steps:
${writeActions}      - id: one
        run: |
          echo "pid1=$(tr '\\0' ' ' < /proc/1/cmdline) me=$(id -u)"
          echo "env-file-owner=$(stat -c %u "$GITHUB_ENV")"
          echo "SET_BY_ENV=e1" >> "$GITHUB_ENV"
          echo "v=o1" >> "$GITHUB_OUTPUT"
      - run: echo "env2=$SET_BY_ENV out=\${{ steps.one.outputs.v }}"
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
      - id: js
        uses: ./js
        with:
          who: world
      - uses: ./comp
      - run: echo "outs=\${{ steps.img.outputs.img }}/\${{ steps.df.outputs.greet }}/\${{ steps.js.outputs.greeting }}"
`;

const podman = await podmanMissing();
const skip = (await skipReason(backend)) || podman || false;

describe(`container jobs run their engine in a worker, ${label(backend)}`, { skip, timeout: 600_000 }, () => {
  let r: HostileRunner;
  let base: string;
  before(async () => {
    base = await makeBase();
    r = await startRunner({ ...backend, capacity: 2, base, labels: ["native:host", `ct:docker://${TEST_IMAGE}`] });
  });
  after(async () => {
    await r?.close();
    await rm(base, { recursive: true, force: true });
  });

  it("steps, file commands, JS, composite and docker actions; the engine is the job's uid; nothing left", async () => {
    const first = await r.emu.waitForJobDone(r.emu.enqueue({ workflow: job }).jobId, 300_000);
    const log = logText(first);
    assert.equal(first.result, "success", log);
    assert.match(log, /pid1=tail -f \/dev\/null\s+me=0/);
    // The file commands are made by the engine: in the worker, as the job's uid (not the daemon's root).
    const owner = Number(/env-file-owner=(\d+)/.exec(log)?.[1]);
    assert.ok(owner >= 3_300_000, `the engine runs as a job uid, not ${owner}:\n${log}`);
    assert.match(log, /env2=e1 out=o1/);
    assert.match(log, /image-action-ws=\/.+/);
    assert.match(log, /df-action args=hello you input=you/);
    assert.match(log, /df-action args=hello again input=again/);
    assert.match(log, /node=\/usr\/bin\/node/);
    assert.match(log, /comp-pid1=tail -f \/dev\/null/);
    assert.match(log, /outs=yes\/hello you\/hello world/);

    // The same Dockerfile and files in another job: the image made from that content is used again.
    const second = await r.emu.waitForJobDone(r.emu.enqueue({ workflow: job }).jobId, 300_000);
    const log2 = logText(second);
    assert.equal(second.result, "success", log2);
    assert.doesNotMatch(log2, /Building image/, "the image of the same content is reused");

    const id = runnerIdFor(r.stateDir);
    await waitUntil(async () => {
      const l = await labelled(engine(), `${LABEL_RUNNER}=${id}`);
      return l.containers + l.networks + l.volumes === 0;
    }, 30_000, "no container, network or volume left");
    const roots = async () => (await readdir(r.workdir).catch(() => [] as string[])).filter((e) => e.startsWith("task-"));
    await waitUntil(async () => (await roots()).length === 0, 30_000, `job roots removed from ${r.workdir}`).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${(await roots()).join(", ")}\n${r.daemon.output().slice(-3000)}`);
    });
  });
});
