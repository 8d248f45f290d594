// Task payloads: random YAML documents, near-workflows and random bytes, given
// to the engine directly and to the daemon through the emulator's `payload`.
// Nothing crashes; a payload that cannot run fails only its task, with a
// log row saying why.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { stringify } from "yaml";
import { runJob } from "../../src/engine/run-job.js";
import type { JobEvent } from "../../src/engine/events.js";
import { PlainBackend } from "../../src/host/plain-backend.js";
import { setupEnv, startInProcess, workflow } from "../daemon/harness.js";
import { FUZZ_RUNS } from "./fuzz-runs.js";

// Only harmless commands ever run.
const safeRun = fc.constantFrom("echo hi", "true", "exit 3", "echo '::set-output name=a::b'", "printf 'x\\n'", "echo $GITHUB_WORKSPACE");
const scalar = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.boolean(), fc.constant(null), fc.double({ noNaN: true }));
const anyValue = fc.oneof(
  scalar,
  fc.array(scalar, { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), scalar, { maxKeys: 3 }),
  fc.constantFrom("${{ github.sha }}", "${{ ", "${{ fromJSON('x') }}", "${{ matrix.x }}", "${{ secrets.S }}"),
);
const step = fc.oneof(
  fc.record({ run: safeRun }, { requiredKeys: ["run"] }),
  fc.record({ run: safeRun, name: anyValue, if: fc.constantFrom("always()", "false", "${{ failure() }}", "bad ((", "steps.x.outputs.y == 'z'") }),
  fc.record({ uses: fc.constantFrom("./nope", "owner/repo", "docker://alpine", "", "actions/checkout@v4x") }),
  fc.dictionary(fc.constantFrom("run", "uses", "with", "env", "shell", "id", "timeout-minutes", "continue-on-error", "working-directory"), anyValue, { maxKeys: 4 }),
  anyValue,
);
/** Mostly valid values, sometimes junk: most documents parse, many do not. */
const mostly = <T>(valid: fc.Arbitrary<T>) => fc.oneof({ weight: 20, arbitrary: valid }, { weight: 1, arbitrary: anyValue });
const validStep = fc.record(
  {
    run: safeRun,
    name: fc.string({ maxLength: 10 }),
    id: fc.constantFrom("a", "b", "x-1"),
    if: fc.constantFrom("always()", "false", "${{ failure() }}", "success()", "steps.a.outputs.a == 'b'"),
    env: fc.dictionary(fc.constantFrom("A", "B_2", "PATH2"), fc.string({ maxLength: 8 }), { maxKeys: 2 }),
    "continue-on-error": fc.boolean(),
    shell: fc.constantFrom("bash", "sh", "python3 {0}", "nonexistent-shell"),
  },
  { requiredKeys: ["run"] },
);
const jobArb = fc.record(
  {
    "runs-on": mostly(fc.constantFrom("native", ["native"])),
    steps: mostly(fc.array(mostly(validStep), { minLength: 1, maxLength: 3 })),
    env: mostly(fc.dictionary(fc.constantFrom("E1", "E2"), fc.string({ maxLength: 6 }), { maxKeys: 2 })),
    outputs: mostly(fc.dictionary(fc.constantFrom("o1", "o2"), fc.constantFrom("${{ steps.a.outputs.a }}", "x", "${{ env.E1 }}"), { maxKeys: 2 })),
    "timeout-minutes": mostly(fc.integer({ min: 1, max: 5 })),
    "continue-on-error": mostly(fc.boolean()),
    defaults: mostly(fc.constant({ run: { shell: "bash" } })),
    strategy: fc.oneof({ weight: 5, arbitrary: fc.constant({ "fail-fast": true }) }, { weight: 1, arbitrary: anyValue }),
  },
  { requiredKeys: ["runs-on", "steps"] },
);
const docArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record(
      {
        on: mostly(fc.constantFrom("push", ["push"], { push: null })),
        name: mostly(fc.string({ maxLength: 10 })),
        env: mostly(fc.dictionary(fc.constantFrom("W1"), fc.string({ maxLength: 5 }), { maxKeys: 1 })),
        jobs: mostly(fc.dictionary(mostly(fc.constantFrom("build", "test")).map((k) => (typeof k === "string" ? k : "a b")), mostly(jobArb), { minKeys: 1, maxKeys: 1 })),
      },
      { requiredKeys: ["on", "jobs"] },
    ),
  },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), anyValue, { maxKeys: 4 }) },
  { weight: 1, arbitrary: anyValue },
);
const payloadArb = fc.oneof(
  { weight: 4, arbitrary: docArb.map((d) => stringify(d)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => new TextDecoder().decode(b)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.constantFrom("jobs:\n  a: [", "\t\tjobs: x", "%YAML 9.9\n---\n", "&a [*a]", "jobs: !!binary xx", "---\n---\n", "") },
);

test("engine: any payload ends the job with a result; failures before the first step say why", async () => {
  const dir = await mkdtemp(join(tmpdir(), "nr-fuzz-payload-"));
  const host = new PlainBackend(join(dir, "jobs"));
  let n = 0;
  let ran = 0;
  try {
    await fc.assert(
      fc.asyncProperty(payloadArb, async (yaml) => {
        const events: JobEvent[] = [];
        const outcome = await runJob(
          {
            jobKey: `fuzz-${n++}`,
            workflowYaml: yaml,
            workflowFile: "ci.yml",
            context: { repository: "alice/webapp", event_name: "push", event: {} },
            secrets: {},
            vars: {},
            needs: {},
          },
          { emit: (e) => events.push(e), signal: new AbortController().signal, host },
        );
        assert.ok(["success", "failure", "cancelled", "skipped"].includes(outcome.result), `result ${outcome.result}`);
        const finished = events.filter((e) => e.type === "job-finished");
        assert.equal(finished.length, 1, "exactly one job-finished event");
        const started = events.some((e) => e.type === "step-started");
        if (started) ran++;
        if (outcome.result === "failure" && !started) {
          const lines = events.filter((e) => e.type === "log").map((e) => (e as { line: string }).line);
          assert.ok(lines.some((l) => l.trim().length > 0), `a failure before any step explains itself:\n${yaml}`);
        }
      }),
      { numRuns: Math.max(40, Math.floor(FUZZ_RUNS / 2)) },
    );
    assert.ok(ran > 0, "some generated payloads are valid enough to run steps");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("daemon: bad payloads fail only their own task, with a message; the daemon keeps working", async () => {
  const env = await setupEnv();
  const daemon = startInProcess(env, { capacity: 4, fetchInterval: "50ms", reportInterval: "100ms" });
  try {
    const samples = fc.sample(payloadArb, { numRuns: Math.max(8, Math.floor(FUZZ_RUNS / 10)) });
    samples.push("", "jobs: {}", "jobs:\n  a:\n    runs-on: native\n  b:\n    runs-on: native\n", "\u0000\u0001\ufffd");
    const ids = samples.map((payload) => ({ payload, jobId: env.emu.enqueue({ payload, runsOn: ["native"] }).jobId }));
    for (const { payload, jobId } of ids) {
      const job = await env.emu.waitForJobDone(jobId, 120_000);
      assert.ok(job.result === "success" || job.result === "failure" || job.result === "skipped", `job ${jobId}: ${job.result}`);
      assert.equal(job.logArchived, true, `job ${jobId}: log archived`);
      if (job.result === "failure") {
        const explained = job.logRows.filter((r) => !/^(Job failed|native-runner .*)$/.test(r) && r.trim() !== "");
        assert.ok(explained.length > 0, `job ${jobId} failed without a reason:\n${JSON.stringify(payload)}\n${job.logRows.join("\n")}`);
      }
    }
    const ok = env.emu.enqueue({ workflow: workflow("      - run: echo still-alive\n") });
    const job = await env.emu.waitForJobDone(ok.jobId, 60_000);
    assert.equal(job.result, "success");
    assert.ok(job.logRows.includes("still-alive"));
  } finally {
    await daemon.shutdown();
    await env.close();
  }
});
