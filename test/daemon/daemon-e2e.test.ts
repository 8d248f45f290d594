// The daemon against the emulator over real HTTP, running real processes.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { daemonConfig, setupEnv, startInProcess, workflow, waitUntil } from "./harness.js";
import { startDaemon, startOneJob } from "../../src/daemon/index.js";
import { labelNames } from "../../src/config/index.js";
import { PlainBackend } from "../../src/host/plain-backend.js";
import { silentLogger } from "../../src/observability/logger.js";
import { runJob } from "../../src/engine/run-job.js";

for (const protocol of ["proto", "json"] as const) {
  test(`register → declare → enqueue → run: logs and step states arrive exactly (${protocol})`, async () => {
    const env = await setupEnv();
    const daemon = startInProcess(env, { protocol });
    try {
      const { jobId } = env.emu.enqueue({
        workflow: workflow(`
      - name: first
        run: |
          echo one
          echo two
      - name: second
        run: echo three; echo 'four' >&2
`),
      });
      const job = await env.emu.waitForJobDone(jobId, 30_000);
      assert.equal(job.result, "success");
      assert.equal(job.logArchived, true);
      // the runner declared its label names
      const runner = env.emu.runners().find((r) => r.uuid === env.uuid)!;
      assert.deepEqual(runner.labels, ["native"]);
      assert.equal(runner.version, "test");
      // every line the steps printed, once, in order, inside its step's window
      const rows = job.logRows;
      const s0 = job.steps[0]!;
      const s1 = job.steps[1]!;
      assert.deepEqual(rows.slice(s0.logIndex, s0.logIndex + s0.logLength).filter((r) => /^(one|two)$/.test(r)), ["one", "two"]);
      assert.deepEqual(rows.slice(s1.logIndex, s1.logIndex + s1.logLength).filter((r) => /^(three|four)$/.test(r)).sort(), ["four", "three"]);
      for (const word of ["one", "two", "three", "four"]) assert.equal(rows.filter((r) => r === word).length, 1, word);
      assert.deepEqual([s0.result, s1.result], ["success", "success"]);
      assert.ok(s0.logIndex > 0, "setup rows come before the first step");
      assert.ok(s1.logIndex >= s0.logIndex + s0.logLength);
      assert.ok(rows.length > s1.logIndex + s1.logLength, "rows after the last step are outside the step window");
      assert.equal(rows.at(-1), "Job succeeded");
      assert.ok(job.task!.startedAt && job.task!.stoppedAt);
      assert.ok(Date.parse(job.task!.stoppedAt!) >= Date.parse(job.task!.startedAt!));
      // the codec on the wire
      const reqs = env.emu.requests().filter((r) => r.rpc.endsWith("FetchTask"));
      assert.ok(reqs.length > 0);
      const wantType = protocol === "proto" ? "application/proto" : "application/json";
      assert.ok(reqs.every((r) => r.contentType.startsWith(wantType)), reqs.map((r) => r.contentType).join(","));
      assert.ok(reqs.every((r) => (r.acceptEncoding ?? "").includes("gzip")));
      assert.ok(reqs.every((r) => (r.requestKey ?? "").length >= 32));
    } finally {
      await daemon.shutdown();
      await env.close();
    }
  });
}

test("a failing step fails the job; the steps after it are not run", async () => {
  const env = await setupEnv();
  const daemon = startInProcess(env);
  try {
    const { jobId } = env.emu.enqueue({
      workflow: workflow(`
      - run: echo before
      - run: echo failing; exit 3
      - run: echo never
`),
    });
    const job = await env.emu.waitForJobDone(jobId, 30_000);
    assert.equal(job.result, "failure");
    assert.deepEqual(job.steps.map((s) => s.result), ["success", "failure", job.steps[2]!.result]);
    assert.notEqual(job.steps[2]!.result, "success");
    assert.ok(!job.logRows.includes("never"));
    assert.ok(job.logRows.includes("failing"));
    assert.equal(job.logArchived, true);
  } finally {
    await daemon.shutdown();
    await env.close();
  }
});

test("a malformed payload fails that task with a clear row; the daemon serves the next task", async () => {
  const env = await setupEnv({ emulator: { actionsUrlKeys: "none" } });
  const daemon = startInProcess(env);
  try {
    // no default-actions URL in the context: the runner must refuse the task, not crash
    const bad = env.emu.enqueue({ workflow: workflow("      - run: echo hi\n") });
    const badJob = await env.emu.waitForJobDone(bad.jobId, 30_000);
    assert.equal(badJob.result, "failure");
    assert.ok(badJob.logRows.some((r) => r.includes("default actions URL")), badJob.logRows.join("\n"));
    assert.equal(badJob.logArchived, true);

    const good = env.emu.enqueue({
      workflow: workflow("      - run: echo still serving\n"),
      context: { forgejo_default_actions_url: "https://data.forgejo.org" },
    });
    const goodJob = await env.emu.waitForJobDone(good.jobId, 30_000);
    assert.equal(goodJob.result, "success");
    assert.ok(goodJob.logRows.includes("still serving"));
  } finally {
    await daemon.shutdown();
    await env.close();
  }
});

test("a payload the engine cannot read fails with a clear row; the next task runs", async () => {
  const env = await setupEnv();
  const daemon = startInProcess(env);
  try {
    const bad = env.emu.enqueue({ workflow: workflow("      - name: neither run nor uses\n        foo: bar\n") });
    const badJob = await env.emu.waitForJobDone(bad.jobId, 30_000);
    assert.equal(badJob.result, "failure");
    assert.ok(badJob.logRows.some((r) => /not valid|unexpected|required|foo/i.test(r)), badJob.logRows.join("\n"));
    assert.equal(badJob.logArchived, true);
    const good = env.emu.enqueue({ workflow: workflow("      - run: echo next\n") });
    assert.equal((await env.emu.waitForJobDone(good.jobId, 30_000)).result, "success");
  } finally {
    await daemon.shutdown();
    await env.close();
  }
});

for (const protocol of ["proto", "json"] as const) test(`capacity 4: five jobs, four run at once, the fifth starts when one ends (${protocol})`, async () => {
  const env = await setupEnv();
  const daemon = startInProcess(env, { capacity: 4, fetchInterval: "100ms", protocol });
  try {
    const dir = env.dir;
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(
        env.emu.enqueue({
          workflow: workflow(`      - run: touch ${dir}/started-${i}; while [ ! -e ${dir}/release-${i} ]; do sleep 0.05; done\n`),
        }).jobId,
      );
    }
    const startedCount = () => [0, 1, 2, 3, 4].filter((i) => existsSync(`${dir}/started-${i}`)).length;
    await waitUntil(() => startedCount() === 4, 30_000, "four jobs started");
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(startedCount(), 4, "the fifth job waits for a free slot");
    assert.equal(env.emu.jobs().filter((j) => j.status === "running").length, 4);
    const first = [0, 1, 2, 3, 4].find((i) => existsSync(`${dir}/started-${i}`))!;
    writeFileSync(`${dir}/release-${first}`, "");
    await waitUntil(() => startedCount() === 5, 30_000, "the fifth job started");
    for (let i = 0; i < 5; i++) writeFileSync(`${dir}/release-${i}`, "");
    for (const id of ids) assert.equal((await env.emu.waitForJobDone(id, 30_000)).result, "success");
  } finally {
    await daemon.shutdown();
    await env.close();
  }
});

test("the trust policy refuses a task before anything runs, with a clear row", async () => {
  const env = await setupEnv();
  const daemon = startInProcess(env, { trustedRepos: ["bob/*"] });
  try {
    const { jobId } = env.emu.enqueue({ repo: "alice/webapp", workflow: workflow(`      - run: touch ${env.dir}/ran\n`) });
    const job = await env.emu.waitForJobDone(jobId, 30_000);
    assert.equal(job.result, "failure");
    assert.ok(job.logRows.some((r) => r.includes('repository "alice/webapp" is not in runner.trusted_repos')), job.logRows.join("\n"));
    assert.equal(existsSync(`${env.dir}/ran`), false);
    const ok = env.emu.enqueue({ repo: "bob/tools", workflow: workflow("      - run: echo trusted\n") });
    assert.equal((await env.emu.waitForJobDone(ok.jobId, 30_000)).result, "success");
  } finally {
    await daemon.shutdown();
    await env.close();
  }
});

test("a runner the server does not know stops: the daemon ends with code 1 (current and old servers)", async () => {
  for (const legacyErrors of [false, true]) {
    const env = await setupEnv({ emulator: { legacyErrors } });
    const daemon = startInProcess(env, { token: "0".repeat(40) });
    try {
      assert.equal(await daemon.done, 1);
    } finally {
      await daemon.shutdown();
      await env.close();
    }
  }
});

test("two connections share one capacity", async () => {
  const env = await setupEnv();
  const { createForgejoClient } = await import("../../src/protocol/index.js");
  const second = await createForgejoClient({ baseUrl: env.emu.url }).register({
    name: "second", token: env.emu.createRegistrationToken(), labels: ["native"],
  });
  const config = daemonConfig(env, { capacity: 2 });
  const connections = [
    ...config.server.connections,
    { ...config.server.connections[0]!, name: "second", uuid: second.runner!.uuid, token: second.runner!.token },
  ];
  const daemon = startDaemon({
    config, connections, host: new PlainBackend(join(env.dir, "work")), log: silentLogger(), version: "test",
    runJob, labelNames: (c) => labelNames(c.labels),
  });
  try {
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) {
      ids.push(env.emu.enqueue({ workflow: workflow(`      - run: touch ${env.dir}/s-${i}; while [ ! -e ${env.dir}/go ]; do sleep 0.05; done\n`) }).jobId);
    }
    const started = () => [0, 1, 2, 3].filter((i) => existsSync(`${env.dir}/s-${i}`)).length;
    await waitUntil(() => started() === 2, 30_000, "two jobs started");
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(started(), 2, "no third job while both slots are busy");
    // both runners polled (each connection has its own poller)
    const pollers = new Set(env.emu.requests().filter((r) => r.rpc.endsWith("Declare")).map((r) => r.runnerUuid));
    assert.equal(pollers.size, 2);
    writeFileSync(`${env.dir}/go`, "");
    for (const id of ids) assert.equal((await env.emu.waitForJobDone(id, 30_000)).result, "success");
  } finally {
    await daemon.shutdown();
    await env.close();
  }
});

test("one-job --handle asks for that job attempt (FetchSingleTask over JSON)", async () => {
  const env = await setupEnv();
  try {
    const first = env.emu.enqueue({ workflow: workflow("      - run: echo first\n") });
    const second = env.emu.enqueue({ workflow: workflow("      - run: echo second\n") });
    const handle = env.emu.job(second.jobId)!.handle;
    const config = daemonConfig(env);
    const job = startOneJob({
      config, connections: config.server.connections, host: new PlainBackend(join(env.dir, "work")), log: silentLogger(),
      version: "test", runJob, labelNames: (c) => labelNames(c.labels), wait: false, handle,
    });
    assert.equal(await job.done, 0);
    assert.equal(env.emu.job(second.jobId)!.result, "success");
    assert.equal(env.emu.job(first.jobId)!.status, "waiting");
    const rec = env.emu.requests().find((r) => r.rpc.endsWith("FetchSingleTask"));
    assert.ok(rec?.contentType.startsWith("application/json"));
  } finally {
    await env.close();
  }
});
