// CI size of the fault-injection suite (bench/fault-suite.ts runs a bigger one).

import { test } from "node:test";
import assert from "node:assert/strict";
import { formatFigures, runFaultSuite } from "./fault-suite-lib.js";

test("fault suite: 200 jobs through faults, an emulator restart and a kill -9: no row lost or duplicated, no wrong result", async () => {
  const figures = await runFaultSuite({
    jobs: Number(process.env.FAULT_SUITE_JOBS ?? 200),
    capacity: 4,
    seed: Number(process.env.FAULT_SUITE_SEED ?? 20261126),
    fetchInterval: "50ms",
    reportInterval: "100ms",
    faultRate: 1,
    maxLines: 1500,
    timeoutMs: 600_000,
    log: (m) => console.log(`# ${m}`),
  });
  console.log(formatFigures(figures).replace(/^/gm, "# "));
  assert.deepEqual(figures.problems.slice(0, 20), []);
  assert.equal(figures.lost, 0);
  assert.equal(figures.duplicated, 0);
  assert.equal(figures.wrong, 0);
  assert.ok(figures.jobs >= 200);
  assert.ok(figures.faultsFired > 50, "faults were injected");
  assert.ok(figures.interrupted >= 4, "jobs were interrupted by the kill -9");
});
