// Real Gitea (../shared/peers): a cancel from the server while a background
// process runs (the always() step still runs), a job's timeout-minutes, and
// kill -9 of the daemon followed by a restart.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { giteaUnavailable } from "./gitea.js";
import { cancelScenario, kill9Scenario, timeoutScenario, type Scenario } from "./scenarios.js";
import { daemonOutput, startTier, type Tier } from "./tier.js";

const skip = giteaUnavailable();
if (skip) console.log(`# real-server tier skipped: ${skip}`);

describe("real Gitea: cancel, timeout, crash", { skip, timeout: 400_000 }, () => {
  let tier: Tier | undefined;
  before(async () => {
    tier = await startTier({ capacity: 2 });
  });
  after(async () => {
    await tier?.close();
  });

  const scenario = (s: Scenario) =>
    test(s.name, async () => {
      const r = await tier!.run(s);
      assert.deepEqual(r.problems, [], `${r.problems.join("\n")}${daemonOutput(tier)}`);
    });
  scenario(cancelScenario);
  scenario(timeoutScenario);
  scenario(kill9Scenario);
});
