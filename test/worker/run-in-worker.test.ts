// The daemon's side of a job worker on the plain backend: a real worker runs
// jobs with heavy output side by side and honours cancel; a worker that
// crashes, hangs or sends garbage fails its own job with a clear row, and the
// next job runs as usual.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import type { JobEvent, LogEvent } from "../../src/engine/events.js";
import type { JobRequest } from "../../src/engine/job-request.js";
import { PlainBackend } from "../../src/host/plain-backend.js";
import { runJobInWorker, type WorkerCommand } from "../../src/worker/index.js";
import { testWorkerCommand } from "../helpers/worker-command.js";

const request = (jobKey: string, steps: string): JobRequest => ({
  jobKey,
  workflowYaml: `on: push\njobs:\n  j:\n    runs-on: native\n    steps:\n${steps}`,
  context: { repository: "o/r", event_name: "push", event: {} },
  secrets: { TOKEN: "s3cr3t-value" },
  vars: {},
  needs: {},
});

describe("runJobInWorker (plain backend)", () => {
  let dir: string;
  let host: PlainBackend;
  let worker: WorkerCommand;
  before(async () => {
    dir = await mkdtemp("/var/tmp/nr-worker-test-");
    host = new PlainBackend(join(dir, "jobs"));
    worker = await testWorkerCommand();
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function run(req: JobRequest, o: { worker?: WorkerCommand; signal?: AbortSignal; hangTimeoutMs?: number; onEvent?: (e: JobEvent) => void } = {}) {
    const events: JobEvent[] = [];
    const outcome = await runJobInWorker(req, {
      emit: (e) => {
        events.push(e);
        o.onEvent?.(e);
      },
      signal: o.signal ?? new AbortController().signal,
      host,
      worker: o.worker ?? worker,
      ...(o.hangTimeoutMs ? { hangTimeoutMs: o.hangTimeoutMs } : {}),
    });
    const lines = events.filter((e): e is LogEvent => e.type === "log").map((e) => e.line);
    return { outcome, events, lines, text: lines.join("\n") };
  }

  it("streams every row of jobs with heavy output running side by side, masked, ending with one job-finished", async () => {
    const steps = `      - run: for i in $(seq 3000); do echo "row-$i $TOKEN"; done\n        env:\n          TOKEN: \${{ secrets.TOKEN }}\n`;
    const results = await Promise.all([1, 2, 3].map((i) => run(request(`heavy-${i}`, steps))));
    for (const r of results) {
      assert.equal(r.outcome.result, "success", r.text.slice(-2000));
      const rows = r.lines.filter((l) => l.startsWith("row-"));
      assert.equal(rows.length, 3000);
      assert.equal(rows[2999], "row-3000 ***");
      assert.doesNotMatch(r.text, /s3cr3t-value/);
      assert.deepEqual(r.events.filter((e) => e.type === "job-finished").length, 1);
      assert.equal(r.events.at(-1)!.type, "job-finished");
    }
  });

  it("cancels: the running step stops, always() steps still run", async () => {
    const ac = new AbortController();
    const r = await run(
      request("cancel", `      - run: echo started; sleep 60\n      - if: always()\n        run: echo cleanup-ran\n`),
      { signal: ac.signal, onEvent: (e) => e.type === "log" && e.line === "started" && ac.abort(new Error("cancelled by test")) },
    );
    assert.equal(r.outcome.result, "cancelled", r.text);
    assert.match(r.text, /cleanup-ran/);
  });

  it("fails the job when the worker crashes, and the next job runs", async () => {
    const r = await run(request("crash", "      - run: true\n"), { worker: { argv: ["/bin/sh", "-c", "exit 3"] } });
    assert.equal(r.outcome.result, "failure");
    assert.match(r.text, /The job worker exited unexpectedly \(exit code 3\)/);
    assert.equal(r.events.at(-1)!.type, "job-finished");
    const next = await run(request("after-crash", "      - run: echo fine\n"));
    assert.equal(next.outcome.result, "success", next.text);
  });

  it("stops a worker that stays silent, and fails its job", async () => {
    const r = await run(request("hang", "      - run: true\n"), { worker: { argv: ["/bin/sh", "-c", "exec sleep 60"] }, hangTimeoutMs: 600 });
    assert.equal(r.outcome.result, "failure");
    assert.match(r.text, /The job worker stopped responding/);
  });

  it("stops a worker that sends an invalid message", async () => {
    const bad = `printf '%s\\n' '{"type":"event","event":{"type":"log","line":"x","stage":"nowhere","time":"2026-01-01T00:00:00Z"}}'; exec sleep 60`;
    const r = await run(request("garbage", "      - run: true\n"), { worker: { argv: ["/bin/sh", "-c", bad] } });
    assert.equal(r.outcome.result, "failure");
    assert.match(r.text, /The job worker sent an invalid message/);
    assert.ok(!r.lines.includes("x"));
  });

  // A job shares its worker's uid and may write to the channel (docs/security.md, forged channel messages).
  const DONE = `printf '%s\\n' '{"type":"done","outcome":{"result":"success","outputs":{}}}'`;

  it("takes one result, as the worker's last message: a second one fails the job", async () => {
    const r = await run(request("two-results", "      - run: true\n"), { worker: { argv: ["/bin/sh", "-c", `${DONE}; ${DONE}; exit 0`] } });
    assert.equal(r.outcome.result, "failure", r.text);
    assert.match(r.text, /The job worker sent an invalid message/);
  });

  it("a result from a worker that is then killed counts for nothing", async () => {
    const r = await run(request("killed-after", "      - run: true\n"), { worker: { argv: ["/bin/sh", "-c", `${DONE}; kill -9 $$`] } });
    assert.equal(r.outcome.result, "failure", r.text);
    assert.match(r.text, /exited unexpectedly \(signal SIGKILL\) after a result arrived/);
  });
});
