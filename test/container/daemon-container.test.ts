// Container jobs through the real daemon (CLI) against the emulator and the
// local podman service: a docker:// label runs the job in a container that
// cannot see the state directory or the docker socket; valid_volumes is
// enforced; cancel, timeout and kill -9 + restart leave nothing behind.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setupEnv, startCli, waitUntil, type DaemonSettings, type TestEnv } from "../daemon/harness.js";
import { SOCKET, TEST_IMAGE, engine, labelled, podmanMissing } from "./helpers.js";
import { LABEL_RUNNER } from "../../src/container/engine-api.js";
import { runnerIdFor } from "../../src/container/daemon-runtime.js";

let skip: string | undefined;
before(async () => {
  skip = await podmanMissing();
});

const LABEL = `ct:docker://${TEST_IMAGE}`;

function startDaemon(env: TestEnv, s: DaemonSettings = {}) {
  process.env.DOCKER_HOST = `unix://${SOCKET}`;
  return startCli(env, ["daemon"], { ...s, labels: ["native:host", LABEL] });
}

/** Objects of the daemon whose state directory is env.dir. */
async function leftovers(env: TestEnv): Promise<number> {
  const l = await labelled(engine(), `${LABEL_RUNNER}=${runnerIdFor(env.dir)}`);
  return l.containers + l.networks + l.volumes;
}

const job = (steps: string, extra = "") => `on: push\njobs:\n  j:\n    runs-on: ct\n${extra}    steps:\n${steps}`;

describe("container jobs in the daemon", { timeout: 300_000 }, () => {
  test("a docker:// job runs in its container; no state dir, no socket; valid_volumes enforced", async (t) => {
    if (skip) return t.skip(skip);
    const env = await setupEnv({ labels: ["native", "ct"] });
    await writeFile(join(env.dir, "secret-in-state"), "x");
    const cli = await startDaemon(env);
    try {
      const ok = env.emu.enqueue({
        workflow: job(
          `      - run: |\n          echo "pid1=$(tr '\\0' ' ' < /proc/1/cmdline)"\n` +
            `          test -e ${join(env.dir, "secret-in-state")} && echo state-visible || echo state-hidden\n` +
            `          test -S /var/run/docker.sock && echo socket-visible || echo socket-hidden\n`,
        ),
      });
      const done = await env.emu.waitForJobDone(ok.jobId, 120_000);
      const rows = done.logRows.join("\n");
      assert.equal(done.result, "success", rows);
      assert.match(rows, /pid1=tail -f \/dev\/null/);
      assert.match(rows, /state-hidden/);
      assert.match(rows, /socket-hidden/);

      const bad = env.emu.enqueue({
        workflow: job("      - run: echo should-not-run\n", `    container:\n      image: ${TEST_IMAGE}\n      volumes:\n        - /etc:/host-etc\n`),
      });
      const refused = await env.emu.waitForJobDone(bad.jobId, 60_000);
      const text = refused.logRows.join("\n");
      assert.equal(refused.result, "failure");
      assert.match(text, /volume "\/etc:\/host-etc" is not allowed by container\.valid_volumes/);
      assert.doesNotMatch(text, /^should-not-run$/m);
      await waitUntil(async () => (await leftovers(env)) === 0, 20_000, "nothing left after the jobs");
    } finally {
      cli.child.kill("SIGKILL");
      await cli.exited;
      await env.close();
    }
  });

  test("container: ${{ matrix.NAME }} from the payload's expanded matrix; other expressions are refused by name", async (t) => {
    if (skip) return t.skip(skip);
    const env = await setupEnv({ labels: ["native", "ct"] });
    const cli = await startDaemon(env);
    try {
      const matrixJob = `on: push\njobs:\n  j:\n    runs-on: native\n    strategy:\n      matrix:\n        img: ["${TEST_IMAGE}"]\n` +
        "    container: ${{ matrix.img }}\n    steps:\n      - run: echo \"pid1=$(tr '\\0' ' ' < /proc/1/cmdline) img=${{ matrix.img }}\"\n";
      const ok = await env.emu.waitForJobDone(env.emu.enqueue({ workflow: matrixJob }).jobId, 120_000);
      const rows = ok.logRows.join("\n");
      assert.equal(ok.result, "success", rows);
      assert.match(rows, new RegExp(`pid1=tail -f /dev/null\\s*img=${TEST_IMAGE}`));
      const other = await env.emu.waitForJobDone(env.emu.enqueue({ workflow: matrixJob.replace("container: ${{ matrix.img }}", "container: ${{ vars.IMG }}") }).jobId, 60_000);
      assert.equal(other.result, "failure");
      assert.match(other.logRows.join("\n"), /the expression \$\{\{ vars\.IMG \}\} is not supported here/);
    } finally {
      cli.child.kill("SIGKILL");
      await cli.exited;
      await env.close();
    }
  });

  test("the cache proxy is reachable from the job container (cache.host empty: the outbound address)", async (t) => {
    if (skip) return t.skip(skip);
    const env = await setupEnv({ labels: ["native", "ct"] });
    const cli = await startDaemon(env, { cache: true, cacheHost: "" });
    try {
      const script = [
        'const u = process.env.ACTIONS_CACHE_URL + "_apis/artifactcache/cache?keys=k1&version=v1";',
        'fetch(u, { headers: { authorization: "Bearer " + process.env.ACTIONS_RUNTIME_TOKEN, accept: "application/json;api-version=6.0-preview.1" } }).then((r) => console.log("cache-status=" + r.status + " via=" + new URL(u).hostname), (e) => console.log("cache-error=" + (e.cause?.code ?? e.message)));',
      ].join(" ");
      const j = env.emu.enqueue({ workflow: job(`      - run: |\n          node -e '${script}'\n`) });
      const done = await env.emu.waitForJobDone(j.jobId, 120_000);
      const rows = done.logRows.join("\n");
      assert.equal(done.result, "success", rows);
      assert.match(rows, /cache-status=204 via=(?!127\.)/);
    } finally {
      cli.child.kill("SIGKILL");
      await cli.exited;
      await env.close();
    }
  });

  test("cancel and runner timeout remove the job's container and network", async (t) => {
    if (skip) return t.skip(skip);
    const env = await setupEnv({ labels: ["native", "ct"] });
    const cli = await startDaemon(env, { timeout: "8s", capacity: 2 });
    try {
      const a = env.emu.enqueue({ workflow: job("      - run: echo started-a; sleep 600\n") });
      const b = env.emu.enqueue({ workflow: job("      - run: echo started-b; sleep 600\n") });
      await waitUntil(() => env.emu.job(a.jobId)!.logRows.includes("started-a"), 60_000, "job a started");
      assert.ok((await leftovers(env)) > 0, "the running job has its container");
      env.emu.cancel(a.jobId);
      const ca = await env.emu.waitForJobDone(a.jobId, 60_000);
      assert.equal(ca.result, "cancelled");
      const cb = await env.emu.waitForJobDone(b.jobId, 60_000);
      assert.equal(cb.result, "cancelled", cb.logRows.join("\n"));
      assert.match(cb.logRows.join("\n"), /maximum run time|timed out|timeout/i);
      await waitUntil(async () => (await leftovers(env)) === 0, 30_000, "no container, network or volume left");
    } finally {
      cli.child.kill("SIGKILL");
      await cli.exited;
      await env.close();
    }
  });

  test("kill -9 of the daemon leaves the container; the next start removes it", async (t) => {
    if (skip) return t.skip(skip);
    const env = await setupEnv({ labels: ["native", "ct"] });
    const first = await startDaemon(env);
    try {
      const a = env.emu.enqueue({ workflow: job("      - run: echo started; sleep 600\n") });
      await waitUntil(() => env.emu.job(a.jobId)!.logRows.includes("started"), 60_000, "job started");
      first.child.kill("SIGKILL");
      await first.exited;
      assert.ok((await leftovers(env)) > 0, "a killed daemon cannot clean up");
      const second = await startDaemon(env);
      try {
        await waitUntil(async () => (await leftovers(env)) === 0, 60_000, "the start-up sweep removed the leftovers");
      } finally {
        second.child.kill("SIGKILL");
        await second.exited;
      }
    } finally {
      await env.close();
    }
  });
});
