// Task contexts of any shape (keys missing, wrong types, nested junk) given
// to the daemon through the emulator. The daemon never crashes; each task
// ends, and a task it cannot run fails with a message.

import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { setupEnv, startInProcess, workflow } from "../daemon/harness.js";
import { FUZZ_RUNS } from "./fuzz-runs.js";

const KEYS = [
  "repository", "repository_owner", "event", "event_name", "ref", "ref_name", "ref_type", "sha", "token", "run_id",
  "run_number", "run_attempt", "job", "workflow", "actor", "server_url", "api_url", "workspace", "env",
  "forgejo_default_actions_url", "gitea_default_actions_url", "forgejo_runtime_token", "gitea_runtime_token",
  "forgejo_actions_id_token_request_token", "forgejo_actions_id_token_request_url", "head_ref", "base_ref",
];
const value = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constantFrom("", "../..", "http://127.0.0.1:1/", "${{ secrets.X }}", "a\nb", "🚀", "x".repeat(5000)) },
);
const contextArb = fc.oneof(
  fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 8 }),
  fc.dictionary(fc.string({ maxLength: 10 }), value, { maxKeys: 4 }),
);

const STEPS = `      - run: echo "repo=\${{ github.repository }} run=\${{ github.run_id }} ev=\${{ github.event_name }}"
      - run: echo '\${{ toJSON(github.event) }}' | head -c 2000; echo
      - run: echo "msg=\${{ github.event.head_commit.message }} ws=\${{ github.workspace }} sha=\${{ github.sha }}"
`;

test("daemon: random task contexts end every task; failures say why; the daemon keeps working", async () => {
  const env = await setupEnv();
  const daemon = startInProcess(env, { capacity: 4, fetchInterval: "50ms", reportInterval: "100ms" });
  try {
    const samples = fc.sample(contextArb, { numRuns: Math.max(10, Math.floor(FUZZ_RUNS / 8)) });
    samples.push(
      { forgejo_default_actions_url: null, gitea_default_actions_url: null },
      { event: "not an object", repository: 42, token: null },
      { event: { head_commit: [1, 2] }, run_id: { a: 1 } },
    );
    const ids = samples.map((context) => ({ context, jobId: env.emu.enqueue({ workflow: workflow(STEPS), context }).jobId }));
    let failed = 0;
    for (const { context, jobId } of ids) {
      const job = await env.emu.waitForJobDone(jobId, 120_000);
      assert.ok(job.result === "success" || job.result === "failure", `job ${jobId}: ${job.result}`);
      assert.equal(job.logArchived, true);
      if (job.result === "failure") {
        failed++;
        const reasons = job.logRows.filter((r) => /error|cannot|could not|not /i.test(r));
        assert.ok(reasons.length > 0, `job ${jobId} failed silently with context ${JSON.stringify(context).slice(0, 500)}:\n${job.logRows.join("\n")}`);
      }
    }
    const missing = ids.at(-3)!;
    const j = env.emu.job(missing.jobId)!;
    assert.equal(j.result, "failure", "a task without default actions URL is refused");
    assert.ok(j.logRows.some((r) => /default actions URL/.test(r)));
    assert.ok(failed < ids.length, "most contexts still run");
    const ok = env.emu.enqueue({ workflow: workflow("      - run: echo still-alive\n") });
    const done = await env.emu.waitForJobDone(ok.jobId, 60_000);
    assert.equal(done.result, "success");
  } finally {
    await daemon.shutdown();
    await env.close();
  }
});
