import { test } from "node:test";
import assert from "node:assert/strict";
import { Supervisor, TaskAbort, TIMEOUT_MESSAGE, type TaskHandle } from "../../src/daemon/supervisor.js";
import { silentLogger } from "../../src/observability/logger.js";

const log = silentLogger();

/** A task that ends when released or when aborted; records the abort reason. */
function task(record: { reason?: TaskAbort }, release: Promise<void>) {
  return (h: TaskHandle) =>
    new Promise<void>((resolve) => {
      h.signal.addEventListener("abort", () => {
        record.reason = h.signal.reason as TaskAbort;
        resolve();
      });
      void release.then(resolve);
    });
}

test("capacity, reservations and slot notifications", async () => {
  const sup = new Supervisor({ capacity: 2, taskTimeoutMs: 0, shutdownTimeoutMs: 0, log });
  const events: string[] = [];
  sup.onSlotFreed((why) => events.push(why));
  assert.equal(sup.reserve(5), 2);
  assert.equal(sup.free(), 0);
  sup.release(1);
  assert.deepEqual(events, ["released"]);
  let done!: () => void;
  const p = sup.start("a", task({}, new Promise((r) => (done = r))), { reserved: true });
  assert.equal(sup.free(), 1, "the reserved slot is now the running task's");
  assert.equal(sup.runningCount, 1);
  done();
  await p;
  assert.deepEqual(events, ["released", "task-ended"]);
  assert.equal(sup.free(), 2);
});

test("runner.timeout aborts the task with forgejo-runner's message", async () => {
  const sup = new Supervisor({ capacity: 1, taskTimeoutMs: 50, shutdownTimeoutMs: 0, log });
  const rec: { reason?: TaskAbort } = {};
  await sup.start("t", task(rec, new Promise(() => {})));
  assert.equal(rec.reason?.kind, "timeout");
  assert.equal(rec.reason?.message, TIMEOUT_MESSAGE);
});

test("shutdown waits shutdown_timeout, then cancels what still runs; no new slots", async () => {
  const sup = new Supervisor({ capacity: 2, taskTimeoutMs: 0, shutdownTimeoutMs: 200, log });
  const quick: { reason?: TaskAbort } = {};
  const slow: { reason?: TaskAbort } = {};
  void sup.start("quick", task(quick, new Promise((r) => setTimeout(r, 50))));
  void sup.start("slow", task(slow, new Promise(() => {})));
  const started = Date.now();
  await sup.shutdown();
  assert.ok(Date.now() - started >= 190);
  assert.equal(quick.reason, undefined, "the quick task finished on its own");
  assert.equal(slow.reason?.kind, "shutdown");
  assert.equal(sup.free(), 0);
  assert.equal(sup.runningCount, 0);
});

test("shutdown without shutdown_timeout cancels at once", async () => {
  const sup = new Supervisor({ capacity: 1, taskTimeoutMs: 0, shutdownTimeoutMs: 0, log });
  const rec: { reason?: TaskAbort } = {};
  void sup.start("x", task(rec, new Promise(() => {})));
  await sup.shutdown();
  assert.equal(rec.reason?.kind, "shutdown");
});

test("jobEnded frees the slot while the final report is still going out; idle() waits for it", async () => {
  const sup = new Supervisor({ capacity: 1, taskTimeoutMs: 0, shutdownTimeoutMs: 0, log });
  const freed: string[] = [];
  sup.onSlotFreed((why) => freed.push(why));
  let finishReport!: () => void;
  const report = new Promise<void>((r) => (finishReport = r));
  let idle = false;
  void sup.start("a", async (h) => {
    h.jobEnded();
    await report;
  });
  assert.equal(sup.free(), 1);
  assert.deepEqual(freed, ["task-ended"]);
  const waiting = sup.idle().then(() => (idle = true));
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(idle, false, "the report is still running");
  finishReport();
  await waiting;
  assert.deepEqual(freed, ["task-ended"], "the slot is freed once");
});
