// Real Gitea 1.22 (../shared/peers) answers every error of UpdateLog /
// UpdateTask with Connect code `unknown` (a gRPC status wrapped as text):
// an unknown runner and a task that does not exist look alike. The delivery
// tells them apart without reading the text, by asking Declare.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { DeliveryLink } from "../../src/daemon/delivery.js";
import { recoverOrphans } from "../../src/daemon/recovery.js";
import { TaskSpool, type SpooledTaskState } from "../../src/daemon/spool.js";
import { silentLogger } from "../../src/observability/logger.js";
import { Code, ConnectError, Result, createForgejoClient, type ForgejoClient } from "../../src/protocol/index.js";
import { Gitea, giteaUnavailable, sleep } from "./gitea.js";

const skip = giteaUnavailable();
if (skip) console.log(`# real-server tier skipped: ${skip}`);

const retry = { max_retries: 3, initial_delay: 20, max_delay: 100 };

describe("real Gitea: delivery errors by code", { skip, timeout: 300_000 }, () => {
  let gitea: Gitea | undefined;
  let client: ForgejoClient;
  let taskId: bigint;
  let sha: string;
  let root: string;

  before(async () => {
    gitea = await Gitea.start();
    root = await mkdtemp("/tmp/nr-gitea-delivery-");
    const reg = await createForgejoClient({ baseUrl: gitea.url }).register({ name: "d", token: gitea.runnerToken(), version: "t", labels: ["native"] });
    client = createForgejoClient({ baseUrl: gitea.url, uuid: reg.runner!.uuid, token: reg.runner!.token });
    sha = await gitea.createRepo("demo", { ".gitea/workflows/ci.yml": "on: [push]\njobs:\n  hello:\n    runs-on: native\n    steps:\n      - run: echo hello\n" });
    for (let i = 0; i < 120; i++) {
      const res = await client.fetchTask(0n, { requestKey: `k${i}`, timeoutMs: 10_000 });
      if (res.task) {
        taskId = res.task.id;
        break;
      }
      await sleep(250);
    }
    assert.ok(taskId, "a task was handed out");
  });
  after(async () => {
    await gitea?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  async function spoolFor(id: bigint, key: string): Promise<void> {
    const spool = await TaskSpool.create(root, key, {
      connection: "g", taskId: String(id), repository: "gitea_admin/demo", job: "hello", stepCount: 1,
      startedAt: new Date().toISOString(), daemonPid: 999_999_999,
    });
    spool.append([{ time: new Date(), content: "hello" }, { time: new Date(), content: "Job succeeded" }]);
    const t = Date.now();
    await spool.writeState({
      startedAt: t,
      steps: [{ result: Result.SUCCESS, startedAt: t, stoppedAt: t, logIndex: 0, logLength: 1 }],
      final: { result: Result.SUCCESS, stoppedAt: t, outputs: {} },
    } satisfies SpooledTaskState);
    spool.close();
  }

  const linkOf = (c: ForgejoClient) => new DeliveryLink(c, { checkRunner: () => c.declare("t", ["native"]) });

  test("what Gitea answers: `unknown` both for an unknown runner and for a missing task", async () => {
    const stranger = createForgejoClient({ baseUrl: gitea!.url, uuid: "00000000-0000-0000-0000-000000000000", token: "x" });
    const codeOf = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => ConnectError.from(e).code);
    const row = [{ time: timestampNow(), content: "x" }];
    assert.equal(await codeOf(stranger.updateLog({ taskId, index: 0n, rows: row })), Code.Unknown);
    assert.equal(await codeOf(client.updateLog({ taskId: 999_999n, index: 0n, rows: row })), Code.Unknown);
    assert.equal(await codeOf(client.updateTask({ state: { id: 999_999n } })), Code.Unknown);
    assert.equal(await codeOf(client.declare("t", ["native"])), undefined);
    assert.equal(await codeOf(stranger.declare("t", ["native"])), Code.Unknown);
  });

  test("a spooled task the server does not have is given up after the retries; the runner's credentials are fine", async () => {
    await spoolFor(999_999n, "g-999999");
    const summary = await recoverOrphans({ spoolRoot: root, links: new Map([["g", linkOf(client)]]), retry, log: silentLogger() });
    assert.deepEqual(summary.dropped, ["g-999999"]);
    assert.equal(existsSync(join(root, "g-999999")), false);
  });

  test("with credentials the server does not know, nothing is decided: the spool stays for a later attempt", async () => {
    const stranger = createForgejoClient({ baseUrl: gitea!.url, uuid: "00000000-0000-0000-0000-000000000000", token: "x" });
    await spoolFor(taskId, `g-${taskId}`);
    const summary = await recoverOrphans({ spoolRoot: root, links: new Map([["g", linkOf(stranger)]]), retry, log: silentLogger() });
    assert.deepEqual(summary.pending, [`g-${taskId}`]);
    assert.ok(existsSync(join(root, `g-${taskId}`)));
    // With the runner's own credentials the same spool is delivered.
    const again = await recoverOrphans({ spoolRoot: root, links: new Map([["g", linkOf(client)]]), retry, log: silentLogger() });
    assert.deepEqual(again.recovered, [`g-${taskId}`]);
    const jobs = await gitea!.waitJobs("demo", sha, 1);
    assert.equal(jobs[0]!.state, "success");
    assert.deepEqual(await gitea!.jobLog("demo", jobs[0]!.run, jobs[0]!.job), ["hello", "Job succeeded"]);
  });
});
