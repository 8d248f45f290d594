// The worker channel's log batches: rows travel as a raw payload announced by
// its size, and the daemon checks them before it reports any.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ChannelError, LineReader, decodeFromWorker, encode, forEachRow, type LogBatch } from "../../src/worker/channel.js";

test("log rows travel in batches: a raw payload announced by its size, checked against the rows' times", () => {
  const got: Array<{ line: string; payload?: string }> = [];
  const reader = new LineReader((line, payload) => got.push({ line, ...(payload !== undefined ? { payload } : {}) }), () => got.push({ line: "TOO LONG" }), 1000);
  const msg = { type: "logs" as const, stage: "step" as const, stepIndex: 2, text: "a\n=3\n{\"type\":\"done\"}\nü", spans: [5, 2, 7, 2] };
  const wire = Buffer.from(encode(msg) + encode({ type: "alive" }));
  // Byte by byte: a payload's newlines, '=' lines and JSON inside it are rows, not frames.
  for (const b of wire) reader.push(Buffer.from([b]));
  assert.equal(got.length, 2);
  const decoded = decodeFromWorker(got[0]!.line, got[0]!.payload);
  assert.equal(decoded.type, "logs");
  const rows: Array<{ time: number; line: string }> = [];
  forEachRow(decoded as LogBatch, (time, line) => rows.push({ time: time.getTime(), line }));
  assert.deepEqual(rows, [
    { time: 5, line: "a" }, { time: 5, line: "=3" }, { time: 7, line: '{"type":"done"}' }, { time: 7, line: "ü" },
  ]);
  assert.deepEqual(decodeFromWorker(got[1]!.line, got[1]!.payload), { type: "alive" });
  // Rows and times must agree; a payload goes only with a batch; an oversized payload is refused before it is read.
  const head = (o: object) => JSON.stringify(o);
  assert.throws(() => decodeFromWorker(head({ type: "logs", stage: "step", spans: [5, 3] }), "a\nb"), ChannelError);
  assert.throws(() => decodeFromWorker(head({ type: "logs", stage: "step", spans: [5, 1] })), ChannelError);
  assert.throws(() => decodeFromWorker(head({ type: "alive" }), "x"), ChannelError);
  assert.throws(() => decodeFromWorker(head({ type: "logs", stage: "nope", spans: [5, 1] }), "a"), ChannelError);
  got.length = 0;
  reader.push(Buffer.from("=5000\n"));
  assert.deepEqual(got, [{ line: "TOO LONG" }]);
});
