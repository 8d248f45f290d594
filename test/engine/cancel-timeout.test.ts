import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, readFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { job, runYaml } from "./helpers.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("cancellation kills the step's process tree, skips normal steps, runs always() steps", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cancel-"));
  chmodSync(dir, 0o777); // the job may run as another uid
  const pidFile = join(dir, "pids");
  const ac = new AbortController();
  const started = Date.now();
  let cancelledAt = 0;
  const run = runYaml(
    job(`      - run: |
          sleep 60 &
          echo $! > ${pidFile}.tmp
          echo $$ >> ${pidFile}.tmp
          mv ${pidFile}.tmp ${pidFile}
          sleep 60
      - run: echo should-not-run
      - if: always()
        run: echo cleanup-ran
      - if: cancelled()
        run: echo saw-cancel
`),
    { signal: ac.signal },
  );
  await waitFor(() => existsSync(pidFile));
  const pids = readFileSync(pidFile, "utf8").trim().split("\n").map(Number);
  assert.ok(pids.every(alive));
  cancelledAt = Date.now();
  ac.abort(new Error("cancelled by test"));
  const r = await run;
  assert.ok(Date.now() - started < 30_000);
  await waitFor(() => pids.every((p) => !alive(p)), 2_000);
  assert.ok(cancelledAt > 0);
  assert.equal(r.outcome.result, "cancelled");
  assert.equal(r.step(0).conclusion, "cancelled");
  assert.equal(r.step(1).conclusion, "skipped");
  assert.equal(r.step(2).conclusion, "success");
  assert.ok(r.stepLines(2).includes("cleanup-ran"));
  assert.ok(r.stepLines(3).includes("saw-cancel"));
  assert.ok(!r.lines.includes("should-not-run"));
});

test("an aborted signal before start still yields job-finished cancelled", async () => {
  const ac = new AbortController();
  ac.abort();
  const r = await runYaml(job(`      - run: echo hi\n`), { signal: ac.signal });
  assert.equal(r.outcome.result, "cancelled");
  assert.equal(r.events.at(-1)?.type, "job-finished");
  assert.ok(!r.lines.includes("hi"));
});

test("step timeout-minutes fails the step with a timed-out message; continue-on-error keeps the job green", async () => {
  const r = await runYaml(
    job(`      - run: sleep 30
        timeout-minutes: 0.02
        continue-on-error: true
      - run: echo next
`),
  );
  assert.equal(r.step(0).outcome, "failure");
  assert.equal(r.step(0).conclusion, "success");
  assert.ok(r.stepLines(0).some((l) => /has timed out after 0.02 minutes/.test(l)), r.stepLines(0).join("\n"));
  assert.ok(r.stepLines(1).includes("next"));
  assert.equal(r.outcome.result, "success");
});

test("job timeout-minutes stops the job and fails it; always() steps still run", async () => {
  const r = await runYaml(
    job(
      `      - run: sleep 30
      - if: always()
        run: echo after-timeout
`,
      "    timeout-minutes: 0.02\n",
    ),
  );
  assert.equal(r.outcome.result, "failure");
  assert.ok(r.lines.some((l) => l.includes("exceeded the maximum execution time")));
  assert.ok(r.stepLines(1).includes("after-timeout"));
});

test("job continue-on-error turns a failed job into success", async () => {
  const r = await runYaml(job(`      - run: exit 1\n`, "    continue-on-error: true\n"));
  assert.equal(r.outcome.result, "success");
  assert.equal(r.step(0).conclusion, "failure");
});
