// A runner without container labels given a job with `container:` or
// `services:`: `exec` runs it in a container as forgejo-runner does (even on
// a label mapped to the host), and the daemon refuses it with a clear job
// error; neither runs it on the host.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SERVICE_IMAGE, SOCKET, TEST_IMAGE, cli, podmanMissing } from "./helpers.js";
import { setupEnv, startCli } from "../daemon/harness.js";

let skip: string | undefined;
before(async () => {
  skip = await podmanMissing();
});

test("exec: container: and services: on a label mapped to the host run in a job container", async (t) => {
  if (skip) return t.skip(skip);
  const dir = await mkdtemp(join(tmpdir(), "nr-hostlabel-"));
  try {
    const marker = join(dir, "ran-on-host");
    await mkdir(join(dir, "repo/.forgejo/workflows"), { recursive: true });
    await writeFile(
      join(dir, "repo/.forgejo/workflows/ci.yml"),
      `on: push
jobs:
  j:
    runs-on: native
    container: ${TEST_IMAGE}
    services:
      web:
        image: ${SERVICE_IMAGE}
    steps:
      - run: |
          echo "pid1=$(tr '\\0' ' ' < /proc/1/cmdline) web=$(wget -q -O- http://web/)"
          touch ${marker}
`,
    );
    const res = await cli(["exec", "-C", join(dir, "repo"), "-P", "native=-self-hosted"], dir, { DOCKER_HOST: `unix://${SOCKET}` });
    assert.equal(res.code, 0, res.out);
    assert.match(res.out, /pid1=tail -f \/dev\/null +web=service-ok/);
    assert.equal(existsSync(marker), false, "the step ran in the container, not on the host");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("daemon with host labels only: a job with container: or services: fails with the reason and never runs", async (t) => {
  if (skip) return t.skip(skip);
  const env = await setupEnv({ labels: ["native"] });
  const daemon = await startCli(env, ["daemon"], { labels: ["native:host"] });
  try {
    const marker = join(env.dir, "ran");
    const jobs = [
      { extra: `    container: ${TEST_IMAGE}\n`, want: /container:/ },
      { extra: `    services:\n      web:\n        image: ${SERVICE_IMAGE}\n`, want: /services:/ },
    ];
    for (const j of jobs) {
      const { jobId } = env.emu.enqueue({
        workflow: `on: push\njobs:\n  j:\n    runs-on: native\n${j.extra}    steps:\n      - run: touch ${marker}\n`,
      });
      const done = await env.emu.waitForJobDone(jobId, 60_000);
      const text = done.logRows.join("\n");
      assert.equal(done.result, "failure", text);
      assert.match(text, j.want);
      assert.match(text, /no container executor/);
      assert.equal(existsSync(marker), false);
    }
    const { jobId } = env.emu.enqueue({ workflow: `on: push\njobs:\n  j:\n    runs-on: native\n    steps:\n      - run: touch ${marker}\n` });
    assert.equal((await env.emu.waitForJobDone(jobId, 60_000)).result, "success");
    assert.equal(existsSync(marker), true, "a host job still runs on the host");
  } finally {
    daemon.child.kill("SIGKILL");
    await daemon.exited;
    await env.close();
  }
});
