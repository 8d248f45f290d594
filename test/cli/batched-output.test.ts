import { test } from "node:test";
import assert from "node:assert/strict";
import { batchedOutput } from "../../src/cli/batched-output.js";

test("console output: lines gathered into one write per event-loop turn, in order", async () => {
  const writes: string[] = [];
  const out = batchedOutput((s) => writes.push(s));
  for (let i = 0; i < 1000; i++) out.write(`line ${i}\n`);
  assert.equal(writes.length, 0, "nothing written within the turn");
  await new Promise((r) => setImmediate(r));
  assert.equal(writes.length, 1);
  assert.equal(writes[0], Array.from({ length: 1000 }, (_, i) => `line ${i}\n`).join(""));
  out.write("last\n");
  out.flush();
  assert.deepEqual(writes.slice(1), ["last\n"], "flush writes what is pending at once");
});

test("console output: a large burst is written in bounded pieces", () => {
  const writes: string[] = [];
  const out = batchedOutput((s) => writes.push(s));
  const line = `${"x".repeat(99)}\n`;
  for (let i = 0; i < 10_000; i++) out.write(line);
  out.flush();
  assert.ok(writes.length >= 10, `${writes.length} writes`);
  for (const w of writes) assert.ok(w.length <= 64 * 1024 + line.length);
  assert.equal(writes.join(""), line.repeat(10_000));
});
