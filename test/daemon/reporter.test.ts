import { test } from "node:test";
import assert from "node:assert/strict";
import type { JobEvent } from "../../src/engine/events.js";
import { TaskReporter } from "../../src/daemon/reporter.js";
import { sanitizeRows, MAX_ROW_BYTES } from "../../src/daemon/log-rows.js";
import { silentLogger } from "../../src/observability/logger.js";
import { Result } from "../../src/protocol/index.js";
import { FakeServer } from "./fake-client.js";

const retry = { max_retries: 8, initial_delay: 5, max_delay: 50 };

function reporterFor(server: FakeServer, stepCount: number, extra: Partial<ConstructorParameters<typeof TaskReporter>[0]> = {}) {
  return new TaskReporter({
    client: server.client(),
    taskId: 7n,
    stepCount,
    reportIntervalMs: 20,
    retry,
    log: silentLogger(),
    ...extra,
  });
}

const t0 = Date.now();
const at = (ms: number) => new Date(t0 + ms);
const log = (line: string, stage: "setup" | "step" | "complete", stepIndex?: number, ms = 0): JobEvent =>
  ({ type: "log", time: at(ms), line, stage, stepIndex });

test("rows get absolute indexes; step windows, results and the final order are right", async () => {
  const server = new FakeServer();
  const r = reporterFor(server, 3);
  r.start();
  const events: JobEvent[] = [
    log("Set up job", "setup"),
    log("preparing", "setup"),
    { type: "step-started", time: at(10), index: 0, id: "a", name: "A" },
    log("a1", "step", 0, 11),
    log("a2\r\n", "step", 0, 12),
    { type: "step-finished", time: at(20), index: 0, id: "a", outcome: "success", conclusion: "success", outputs: {} },
    { type: "step-started", time: at(30), index: 1, id: "b", name: "B" },
    log("b1\nb2", "step", 1, 31),
    { type: "step-finished", time: at(40), index: 1, id: "b", outcome: "failure", conclusion: "failure", outputs: {} },
    log("Complete job", "complete", undefined, 50),
    { type: "job-finished", time: at(60), result: "failure", outputs: { x: "1" } },
  ];
  for (const e of events) r.handle(e);
  await new Promise((res) => setTimeout(res, 60));
  const ok = await r.close({ result: "failure", outputs: { x: "1" }, time: at(70) });
  assert.equal(ok, "delivered");
  // the reporter ends every log with a closing row
  assert.deepEqual(server.rows, ["Set up job", "preparing", "a1", "a2", "b1", "b2", "Complete job", "Job failed"]);
  assert.equal(server.archived, true);
  assert.equal(server.result, Result.FAILURE);
  assert.equal(server.stoppedAt, t0 + 70);
  assert.deepEqual(server.steps.map((s) => [s.result, s.logIndex, s.logLength]), [
    [Result.SUCCESS, 2, 2],
    [Result.FAILURE, 4, 2],
    [Result.CANCELLED, 7, 0], // never started: placed at the end of the log
  ]);
  assert.equal(server.steps[0]!.startedAt, t0 + 10);
  assert.equal(server.steps[0]!.stoppedAt, t0 + 20);
  // outputs only go out for a successful job
  assert.equal(server.outputs.size, 0);
  // no_more carried rows, and the final UpdateTask came after it
  const noMore = server.calls.findIndex((c) => c.rpc === "UpdateLog" && c.noMore);
  const final = server.calls.findIndex((c) => c.rpc === "UpdateTask" && c.result === Result.FAILURE);
  assert.ok(noMore >= 0 && final > noMore);
  assert.ok((server.calls[noMore]!.rows ?? 0) >= 1);
});

test("when everything was already acknowledged, no_more still carries the closing row", async () => {
  const server = new FakeServer();
  const r = reporterFor(server, 1);
  r.handle({ type: "step-started", time: at(0), index: 0, id: "a", name: "A" });
  r.handle(log("only", "step", 0));
  r.handle({ type: "step-finished", time: at(1), index: 0, id: "a", outcome: "success", conclusion: "success", outputs: {} });
  await r.tick();
  assert.deepEqual(server.rows, ["only"]);
  await r.close({ result: "success", outputs: {} });
  assert.deepEqual(server.rows, ["only", "Job succeeded"]);
  assert.equal(server.archived, true);
  const noMoreCall = server.calls.find((c) => c.rpc === "UpdateLog" && c.noMore);
  assert.equal(noMoreCall?.rows, 1);
  // the closing row is outside the step window
  assert.deepEqual([server.steps[0]!.logIndex, server.steps[0]!.logLength], [0, 1]);
});

test("no row is lost or duplicated across failed calls and lost answers", async () => {
  const server = new FakeServer();
  let n = 0;
  // deterministic pseudo-random faults on a third of the calls each
  server.failBefore = () => ++n % 3 === 0;
  server.dropAfter = () => n % 5 === 1;
  const r = reporterFor(server, 1, { maxBatchRows: 7 });
  r.start();
  r.handle({ type: "step-started", time: at(0), index: 0, id: "a", name: "A" });
  const expected: string[] = [];
  for (let i = 0; i < 300; i++) {
    const line = `line ${i}`;
    expected.push(line);
    r.handle(log(line, "step", 0, i));
    if (i % 50 === 0) await new Promise((res) => setTimeout(res, 25));
  }
  r.handle({ type: "step-finished", time: at(400), index: 0, id: "a", outcome: "success", conclusion: "success", outputs: {} });
  const ok = await r.close({ result: "success", outputs: { out: "v" } });
  assert.equal(ok, "delivered");
  assert.deepEqual(server.rows.slice(0, 300), expected);
  assert.ok(server.rows.length <= 301);
  assert.equal(server.archived, true);
  assert.equal(server.result, Result.SUCCESS);
  assert.equal(server.outputs.get("out"), "v");
  assert.deepEqual([server.steps[0]!.logIndex, server.steps[0]!.logLength], [0, 300]);
});

test("a CANCELLED or FAILURE answer while running requests cancellation once", async () => {
  for (const remote of [Result.CANCELLED, Result.FAILURE]) {
    const server = new FakeServer();
    const seen: string[] = [];
    const r = reporterFor(server, 1, { onCancelRequested: (x) => seen.push(x) });
    await r.tick();
    assert.deepEqual(seen, []);
    server.remoteResult = remote;
    await r.tick();
    await r.tick();
    assert.deepEqual(seen, [remote === Result.CANCELLED ? "cancelled" : "failure"]);
    await r.close({ result: "cancelled" });
    assert.equal(server.result, Result.CANCELLED);
    assert.equal(server.steps[0]!.result, Result.CANCELLED);
  }
});

test("outputs: oversized ones are dropped locally, the rest resent until acknowledged", async () => {
  const server = new FakeServer();
  server.delayOutputsUntilCall = 2; // the first final UpdateTask does not store outputs
  const r = reporterFor(server, 0);
  const outputs = { ok: "yes", ["k".repeat(256)]: "too long key", big: "x".repeat(1024 * 1024 + 1) };
  const ok = await r.close({ result: "success", outputs });
  assert.equal(ok, "delivered");
  assert.deepEqual([...server.outputs.keys()], ["ok"]);
  const finals = server.calls.filter((c) => c.rpc === "UpdateTask");
  assert.ok(finals.length >= 3, `expected resends, got ${finals.length}`);
  assert.ok(server.rows.some((row) => row.includes('Ignoring output "big"')));
});

test("skipped job reports unstarted steps as skipped", async () => {
  const server = new FakeServer();
  const r = reporterFor(server, 2);
  await r.close({ result: "skipped" });
  assert.deepEqual(server.steps.map((s) => s.result), [Result.SKIPPED, Result.SKIPPED]);
  assert.equal(server.result, Result.SKIPPED);
});

test("final uploads are retried with backoff and give up after max_retries", async () => {
  const server = new FakeServer();
  server.failBefore = () => true;
  const r = new TaskReporter({
    client: server.client(), taskId: 1n, stepCount: 0, reportIntervalMs: 1000,
    retry: { max_retries: 3, initial_delay: 10, max_delay: 0 }, log: silentLogger(),
  });
  const started = Date.now();
  const ok = await r.close({ result: "success" });
  assert.equal(ok, "undelivered");
  // 3 attempts each for log and state: waits of 10 + 20 ms per phase
  assert.ok(Date.now() - started >= 55);
});

test("rows are sanitised: valid UTF-8, no trailing CR/LF, long rows split", () => {
  assert.deepEqual(sanitizeRows("abc\r\n"), ["abc"]);
  assert.deepEqual(sanitizeRows("a\nb"), ["a", "b"]);
  assert.deepEqual(sanitizeRows(""), [""]);
  assert.deepEqual(sanitizeRows("bad \uD800 surrogate \uDC00"), ["bad ? surrogate ?"]);
  assert.deepEqual(sanitizeRows("ok \uD83D\uDE00"), ["ok \uD83D\uDE00"]);
  const long = "é".repeat(MAX_ROW_BYTES); // 2 bytes each
  const parts = sanitizeRows(long);
  assert.equal(parts.length, 2);
  assert.equal(parts.join(""), long);
  for (const p of parts) assert.ok(Buffer.byteLength(p) <= MAX_ROW_BYTES);
  const emoji = "\uD83D\uDE00".repeat(MAX_ROW_BYTES / 4 + 1);
  const eparts = sanitizeRows(emoji);
  assert.equal(eparts.join(""), emoji);
  assert.ok(eparts.every((p) => !/[\uD800-\uDBFF]$/.test(p)));
});

test("large logs go out in bounded batches", async () => {
  const server = new FakeServer();
  const r = reporterFor(server, 0);
  const big = "x".repeat(60_000);
  for (let i = 0; i < 100; i++) r.handle(log(`${i} ${big}`, "setup"));
  await r.tick();
  assert.equal(server.rows.length, 100);
  const calls = server.calls.filter((c) => c.rpc === "UpdateLog");
  assert.ok(calls.length >= 2, `${calls.length} calls`);
  assert.ok(calls.every((c) => (c.rows ?? 0) * 60_000 * 3 <= 4 * 1024 * 1024 + 60_000 * 3));
  await r.close({ result: "success" });
});

test("a full batch goes out before the next tick, and state reports still run while a step floods the log", async () => {
  const server = new FakeServer();
  const r = reporterFor(server, 0, { reportIntervalMs: 150, maxBatchRows: 50 });
  r.start();
  let n = 0;
  let flood: NodeJS.Timeout | undefined;
  try {
    for (let i = 0; i < 120; i++) r.handle(log(`early ${i}`, "setup"));
    await new Promise((res) => setTimeout(res, 60));
    assert.equal(server.calls.filter((c) => c.rpc === "UpdateTask").length, 0, "no tick yet");
    assert.ok(server.rows.length >= 100, `${server.rows.length} rows sent before the first tick`);
    // A flood for longer than several ticks: pushes never starve the periodic UpdateTask (the cancel channel).
    flood = setInterval(() => {
      for (let i = 0; i < 60; i++) r.handle(log(`flood ${n++}`, "setup"));
    }, 5);
    await new Promise((res) => setTimeout(res, 700));
    clearInterval(flood);
    assert.ok(server.calls.filter((c) => c.rpc === "UpdateTask").length >= 2, "periodic reports went on");
  } finally {
    clearInterval(flood);
    assert.equal(await r.close({ result: "success" }), "delivered");
  }
  const expected = [...Array.from({ length: 120 }, (_, i) => `early ${i}`), ...Array.from({ length: n }, (_, i) => `flood ${i}`), "Job succeeded"];
  assert.deepEqual(server.rows, expected, "every row once, in order");
});

test("a server that refuses at once gets no call per line: pushes wait for a periodic report to succeed", async () => {
  const server = new FakeServer();
  let attempts = 0;
  let down = true;
  server.failBefore = (rpc) => rpc === "UpdateLog" && (attempts++, down);
  const r = reporterFor(server, 0, { reportIntervalMs: 200, maxBatchRows: 10 });
  r.start();
  let n = 0;
  const flood = setInterval(() => {
    for (let i = 0; i < 50; i++) r.handle(log(`line ${n++}`, "setup"));
  }, 2);
  let during = 0;
  try {
    await new Promise((res) => setTimeout(res, 500));
  } finally {
    clearInterval(flood);
    during = attempts;
    down = false;
    assert.equal(await r.close({ result: "success" }), "delivered");
  }
  assert.ok(during <= 6, `${during} UpdateLog attempts in 0.5 s while the server was down`);
  assert.equal(server.rows.length, n + 1, "every row once the server is back");
});
