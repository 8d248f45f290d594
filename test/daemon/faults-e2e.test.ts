// Network faults between the runner and Forgejo (emulator fault injection).

import { test } from "node:test";
import assert from "node:assert/strict";
import { setupEnv, startInProcess, workflow } from "./harness.js";

test("a lost FetchTask answer is recovered with the same request key (new task token)", async () => {
  const env = await setupEnv();
  const { jobId } = env.emu.enqueue({ workflow: workflow("      - run: echo recovered\n") });
  // the very first FetchTask picks the job; its answer never arrives
  env.emu.faults.add({ rpc: "FetchTask", kind: "drop-response", count: 1 });
  const daemon = startInProcess(env);
  try {
    const job = await env.emu.waitForJobDone(jobId, 30_000);
    assert.equal(job.result, "success");
    assert.ok(job.logRows.includes("recovered"));
    assert.equal(job.task!.deliveries, 2, "the task was handed out again to the same key");
    const fetches = env.emu.requests().filter((r) => r.rpc.endsWith("FetchTask"));
    assert.ok(fetches.length >= 2);
    assert.equal(fetches[0]!.fault, "drop-response");
    assert.equal(fetches[1]!.requestKey, fetches[0]!.requestKey, "same key after the lost answer");
    // after a successful answer the key rotates
    if (fetches.length >= 3) assert.notEqual(fetches[2]!.requestKey, fetches[1]!.requestKey);
  } finally {
    await daemon.shutdown();
    await env.close();
  }
});

for (const protocol of ["proto", "json"] as const) {
  test(`no log row is lost or duplicated across 5xx, dropped requests and lost answers (${protocol})`, async () => {
    const env = await setupEnv();
    const daemon = startInProcess(env, { protocol, reportInterval: "50ms" });
    try {
      for (const rpc of ["UpdateLog", "UpdateTask"]) {
        env.emu.faults.add({ rpc, kind: "http5xx", probability: 0.2 });
        env.emu.faults.add({ rpc, kind: "drop-response", probability: 0.15 });
        env.emu.faults.add({ rpc, kind: "drop", probability: 0.1 });
        env.emu.faults.add({ rpc, kind: "reset", probability: 0.05 });
      }
      env.emu.faults.add({ rpc: "FetchTask", kind: "http5xx", probability: 0.3 });
      const { jobId } = env.emu.enqueue({
        workflow: workflow(`
      - run: for i in $(seq 1 150); do echo "row-a-$i"; if [ $((i % 30)) = 0 ]; then sleep 0.1; fi; done
      - run: for i in $(seq 1 150); do echo "row-b-$i"; done
`),
      });
      const job = await env.emu.waitForJobDone(jobId, 60_000);
      assert.equal(job.result, "success");
      assert.equal(job.logArchived, true);
      const ours = job.logRows.filter((r) => /^row-[ab]-\d+$/.test(r));
      const expected = [
        ...Array.from({ length: 150 }, (_, i) => `row-a-${i + 1}`),
        ...Array.from({ length: 150 }, (_, i) => `row-b-${i + 1}`),
      ];
      assert.deepEqual(ours, expected);
      const [s0, s1] = job.steps;
      assert.deepEqual(job.logRows.slice(s0!.logIndex, s0!.logIndex + s0!.logLength).filter((r) => r.startsWith("row-")).length, 150);
      assert.deepEqual(job.logRows.slice(s1!.logIndex, s1!.logIndex + s1!.logLength).filter((r) => r.startsWith("row-")).length, 150);
      const fired = Object.values(env.emu.faults.fired as Record<string, number>).reduce((a, b) => a + b, 0);
      assert.ok(fired > 0, "faults were injected");
    } finally {
      env.emu.faults.clear();
      await daemon.shutdown();
      await env.close();
    }
  });
}
