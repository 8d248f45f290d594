// Real Gitea (../shared/peers), native-runner registered as nixpkgs does it:
// the deployment plan's workflow with actions/checkout, matrix + needs +
// outputs, secrets stored on the server, actions/cache over two runs,
// reusable workflows (local and owner/repo@ref), a busy log (rows pushed
// in full batches while the step runs: every one arrives, in order).

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { giteaUnavailable } from "./gitea.js";
import { busyLogScenario, cacheScenario, matrixScenario, planScenario, reusableScenario, secretsScenario, type Scenario } from "./scenarios.js";
import { daemonOutput, startTier, type Tier } from "./tier.js";

const skip = giteaUnavailable();
if (skip) console.log(`# real-server tier skipped: ${skip}`);

describe("real Gitea: jobs", { skip, concurrency: true, timeout: 400_000 }, () => {
  let tier: Tier | undefined;
  before(async () => {
    tier = await startTier({ capacity: 4 });
  });
  after(async () => {
    await tier?.close();
  });

  test("registration as the nixpkgs module does it: .runner with the native:host label", async () => {
    const reg = JSON.parse(await readFile(join(tier!.registered.dir, ".runner"), "utf8")) as { labels: string[]; address: string; name: string };
    assert.deepEqual(reg.labels, ["native:host"]);
    assert.equal(reg.address.replace(/\/$/, ""), tier!.gitea.url);
    assert.equal(reg.name, "native");
  });

  const scenario = (s: Scenario) =>
    test(s.name, { skip: s.unavailable?.() || false }, async () => {
      const r = await tier!.run(s);
      assert.deepEqual(r.problems, [], `${r.problems.join("\n")}${daemonOutput(tier)}`);
    });
  scenario(planScenario);
  scenario(matrixScenario);
  scenario(secretsScenario);
  scenario(cacheScenario);
  scenario(reusableScenario);
  scenario(busyLogScenario(40_000));
});
