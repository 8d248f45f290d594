// Live reporting and crash recovery deliver through one module: the same
// server answer gets the same handling on both paths, decided by its Connect
// code (never its message).

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TaskReporter } from "../../src/daemon/reporter.js";
import { recoverOrphans, type RecoverySummary } from "../../src/daemon/recovery.js";
import { DeliveryLink, classifyError } from "../../src/daemon/delivery.js";
import { TaskSpool, type SpooledTaskState } from "../../src/daemon/spool.js";
import { silentLogger } from "../../src/observability/logger.js";
import { Code, ConnectError, Result } from "../../src/protocol/index.js";
import { FakeServer } from "./fake-client.js";

const retry = { max_retries: 4, initial_delay: 5, max_delay: 20 };

type Outcome = "delivered" | "already-done" | "gone" | "revoked" | "undelivered";

const linkTo = (server: FakeServer) => {
  const client = server.client();
  return new DeliveryLink(client, { checkRunner: () => client.declare("test", ["native"]) });
};

/** The live path: a job with `rows` rows closes; what did the final delivery conclude, and is the spool kept? */
async function live(server: FakeServer, rows: number, opts: { tick?: (r: TaskReporter) => Promise<void>; link?: DeliveryLink } = {}) {
  const dir = await mkdtemp(join(tmpdir(), "nr-delivery-"));
  try {
    const spool = await TaskSpool.create(dir, "c-7", meta());
    const r = new TaskReporter({
      link: opts.link ?? linkTo(server), taskId: 7n, stepCount: 1, reportIntervalMs: 1000, retry, log: silentLogger(), spool,
    });
    r.handle({ type: "step-started", time: new Date(), index: 0, id: "a", name: "A" });
    for (let i = 0; i < rows; i++) r.handle({ type: "log", time: new Date(), line: `row-${i}`, stage: "step", stepIndex: 0 });
    r.handle({ type: "step-finished", time: new Date(), index: 0, id: "a", outcome: "success", conclusion: "success", outputs: {} });
    await opts.tick?.(r);
    const outcome: Outcome = await r.close({ result: "success", outputs: {} });
    return outcome;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The recovery path: a finished spool of `rows` rows (ack `acked`) left by an earlier process. */
async function recovered(server: FakeServer, rows: number, acked = 0, link = linkTo(server)): Promise<{ summary: RecoverySummary; spoolLeft: boolean }> {
  const root = await mkdtemp(join(tmpdir(), "nr-delivery-"));
  try {
    const spool = await TaskSpool.create(root, "c-7", meta());
    spool.append(Array.from({ length: rows }, (_, i) => ({ time: new Date(), content: `row-${i}` })));
    spool.append([{ time: new Date(), content: "Job succeeded" }]);
    if (acked) await spool.setAck(acked);
    const t = Date.now();
    await spool.writeState({
      startedAt: t,
      steps: [{ result: Result.SUCCESS, startedAt: t, stoppedAt: t, logIndex: 0, logLength: rows }],
      final: { result: Result.SUCCESS, stoppedAt: t, outputs: {} },
    } satisfies SpooledTaskState);
    spool.close();
    const summary = await recoverOrphans({ spoolRoot: root, links: new Map([["c", link]]), retry, log: silentLogger() });
    return { summary, spoolLeft: existsSync(join(root, "c-7")) };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

function meta() {
  return {
    connection: "c", taskId: "7", repository: "o/r", job: "j", stepCount: 1,
    startedAt: new Date().toISOString(), daemonPid: 999_999_999,
  };
}

const keyOf = (s: RecoverySummary) => (Object.keys(s) as (keyof RecoverySummary)[]).find((k) => s[k].length > 0);

test("errors are classified by Connect code alone", () => {
  const cls = (code: Code, msg = "x") => classifyError(new ConnectError(msg, code));
  for (const c of [Code.Unavailable, Code.DeadlineExceeded, Code.ResourceExhausted, Code.Aborted, Code.Canceled]) assert.equal(cls(c), "transient", Code[c]);
  for (const c of [Code.Unauthenticated, Code.PermissionDenied]) assert.equal(cls(c), "revoked", Code[c]);
  for (const c of [Code.NotFound, Code.FailedPrecondition, Code.InvalidArgument]) assert.equal(cls(c), "refused", Code[c]);
  for (const c of [Code.Internal, Code.Unknown]) assert.equal(cls(c), "ambiguous", Code[c]);
  // the texts servers put in messages change nothing
  assert.equal(cls(Code.Unknown, "rpc error: code = Unauthenticated desc = unregistered runner"), "ambiguous");
  assert.equal(cls(Code.Internal, "update task: invalid runner for task"), "ambiguous");
  assert.equal(cls(Code.Unavailable, "invalid runner for task"), "transient");
});

for (const message of ["update task: invalid runner for task", "get task: task with id 7: resource does not exist"]) {
  test(`'internal' (${message}): retried, then the task is given up on both paths once the server answers a task-free call`, async () => {
    const a = new FakeServer();
    a.errorFor = (rpc) => (rpc === "Declare" ? undefined : new ConnectError(message, Code.Internal));
    assert.equal(await live(a, 3), "gone");
    assert.equal(a.calls.filter((c) => c.rpc === "UpdateLog").length, retry.max_retries, "retried with backoff, bounded");
    assert.equal(a.calls.filter((c) => c.rpc === "Declare").length, 1, "then asked whether the runner is accepted");

    const b = new FakeServer();
    b.errorFor = a.errorFor;
    const r = await recovered(b, 3);
    assert.equal(keyOf(r.summary), "dropped");
    assert.equal(r.spoolLeft, false);
    assert.equal(b.calls.filter((c) => c.rpc === "UpdateLog").length, retry.max_retries);
  });
}

test("'unknown' for everything (servers before 2025-03, Gitea 1.22): undecided, the spool stays", async () => {
  const a = new FakeServer();
  // the runner is not accepted: Declare fails the same way
  a.errorFor = () => new ConnectError("rpc error: code = Unauthenticated desc = unregistered runner", Code.Unknown);
  assert.equal(await live(a, 3), "undelivered");
  const b = new FakeServer();
  b.errorFor = a.errorFor;
  const r = await recovered(b, 3);
  assert.equal(keyOf(r.summary), "pending");
  assert.equal(r.spoolLeft, true);
});

for (const code of [Code.NotFound, Code.FailedPrecondition, Code.InvalidArgument]) {
  test(`the task is gone (${Code[code]}): dropped at once on both paths`, async () => {
    const a = new FakeServer();
    a.errorFor = (rpc) => (rpc === "UpdateTask" ? new ConnectError("whatever", code) : undefined);
    assert.equal(await live(a, 3), "gone");
    assert.equal(a.calls.filter((c) => c.rpc === "UpdateTask").length, 1, "not retried");
    const b = new FakeServer();
    b.errorFor = a.errorFor;
    const r = await recovered(b, 3);
    assert.equal(keyOf(r.summary), "dropped");
    assert.equal(r.spoolLeft, false);
  });
}

for (const code of [Code.Unauthenticated, Code.PermissionDenied]) {
  test(`registration revoked (${Code[code]}): the connection's deliveries stop, spools are kept`, async () => {
    const a = new FakeServer();
    a.errorFor = () => new ConnectError("whatever", code);
    const link = linkTo(a);
    assert.equal(await live(a, 3, { link }), "revoked");
    assert.equal(a.calls.length, 1, "not retried");
    assert.ok(link.revoked);
    // another task of the same connection: nothing is sent
    assert.equal(await live(a, 3, { link }), "revoked");
    const r = await recovered(a, 3, 0, link);
    assert.equal(keyOf(r.summary), "kept");
    assert.equal(r.spoolLeft, true);
    assert.equal(a.calls.length, 1, "no call after the revocation");
  });
}

test("a log the server archived early (zombie cleanup): both paths stop sending rows and report the state", async () => {
  for (const path of ["live", "recovery"] as const) {
    const s = new FakeServer();
    s.archived = true;
    s.result = Result.FAILURE;
    const outcome = path === "live" ? await live(s, 2500) : keyOf((await recovered(s, 2500)).summary);
    assert.equal(outcome, path === "live" ? "already-done" : "recovered", path);
    assert.equal(s.calls.filter((c) => c.rpc === "UpdateLog").length, 1, `${path}: one refused batch, no retries`);
    assert.equal(s.calls.filter((c) => c.rpc === "UpdateTask").length, 1, path);
  }
});

test("the server holds fewer rows than it acknowledged: both paths resend from its ack", async () => {
  const a = new FakeServer();
  let dropped = false;
  const outcome = await live(a, 10, {
    tick: async (r) => {
      await r.tick();
      assert.equal(a.rows.length, 10);
      // the server lost rows (restored from a backup)
      a.rows.length = 4;
      dropped = true;
    },
  });
  assert.ok(dropped);
  assert.equal(outcome, "delivered");
  assert.equal(a.rows.length, 11, "indexes stay aligned");
  assert.deepEqual(a.rows.slice(0, 4), ["row-0", "row-1", "row-2", "row-3"]);
  assert.equal(a.rows.at(-1), "Job succeeded");
  assert.ok(a.archived);

  const b = new FakeServer();
  for (let i = 0; i < 4; i++) b.rows.push(`row-${i}`);
  const r = await recovered(b, 10, 8);
  assert.equal(keyOf(r.summary), "recovered");
  assert.deepEqual(b.rows, [...Array.from({ length: 10 }, (_, i) => `row-${i}`), "Job succeeded"], "the journal still has them");
});

test("an outage during the final report: undelivered, then the spool is delivered whole by recovery", async () => {
  const s = new FakeServer();
  s.failBefore = () => true;
  assert.equal(await live(s, 5), "undelivered");
  s.failBefore = () => false;
  const r = await recovered(s, 5);
  assert.equal(keyOf(r.summary), "recovered");
  assert.deepEqual(s.rows, [...Array.from({ length: 5 }, (_, i) => `row-${i}`), "Job succeeded"]);
  assert.equal(s.result, Result.SUCCESS);
});

test("while the job runs: `internal` on every report, then the runner is asked once and the job is stopped as gone", async () => {
  const s = new FakeServer();
  s.errorFor = (rpc) => (rpc === "Declare" ? undefined : new ConnectError("update task: invalid runner for task", Code.Internal));
  const stops: string[] = [];
  const r = new TaskReporter({
    link: linkTo(s), taskId: 7n, stepCount: 1, reportIntervalMs: 1000, retry, log: silentLogger(),
    onCancelRequested: (why) => stops.push(why),
  });
  for (let i = 1; i < retry.max_retries; i++) await r.tick();
  assert.deepEqual(stops, []);
  assert.equal(s.calls.filter((c) => c.rpc === "Declare").length, 0, "not asked before the retries ran out");
  await r.tick();
  assert.deepEqual(stops, ["gone"]);
  assert.equal(s.calls.filter((c) => c.rpc === "Declare").length, 1);
});

test("while the job runs: `unknown` everywhere (the runner is not accepted either): reports go on, the job is not stopped", async () => {
  const s = new FakeServer();
  s.errorFor = () => new ConnectError("rpc error: code = Unauthenticated desc = unregistered runner", Code.Unknown);
  const stops: string[] = [];
  const r = new TaskReporter({
    link: linkTo(s), taskId: 7n, stepCount: 1, reportIntervalMs: 1000, retry, log: silentLogger(),
    onCancelRequested: (why) => stops.push(why),
  });
  for (let i = 0; i < 2 * retry.max_retries; i++) await r.tick();
  assert.deepEqual(stops, []);
  assert.equal(s.calls.filter((c) => c.rpc === "Declare").length, 2, "asked once per max_retries failed reports");
});
