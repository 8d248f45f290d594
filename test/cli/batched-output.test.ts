import { test } from "node:test";
import assert from "node:assert/strict";
import { batchedOutput, fdSink } from "../../src/cli/batched-output.js";

test("console output: lines gathered into one write per event-loop turn, in order", async () => {
  const writes: string[] = [];
  const out = batchedOutput((b) => writes.push(b.toString()));
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
  const out = batchedOutput((b) => writes.push(b.toString()));
  const line = `${"x".repeat(99)}\n`;
  for (let i = 0; i < 10_000; i++) out.write(line);
  out.flush();
  assert.ok(writes.length >= 10, `${writes.length} writes`);
  for (const w of writes) assert.ok(w.length <= 64 * 1024);
  assert.equal(writes.join(""), line.repeat(10_000));
  writes.length = 0;
  const big = "é".repeat(40_000);
  out.write("a\n");
  out.write(big);
  out.flush();
  assert.equal(writes.join(""), `a\n${big}`, "a line longer than the batch goes out whole, after what was pending");
});

test("console output: prefixed lines come out as prefix + line + newline, in order with plain writes, whatever they hold", () => {
  const writes: Buffer[] = [];
  const out = batchedOutput((b) => writes.push(Buffer.from(b)));
  const expected: string[] = [];
  const line = (prefix: string, l: string) => {
    out.writeLine(prefix, l);
    expected.push(`${prefix}${l}\n`);
  };
  const pa = "[a]   │ ";
  const pb = "\x1b[36m[b ✓]\x1b[0m · ";
  for (let i = 0; i < 3000; i++) line(pa, `plain ${i}`);
  line(pa, "");
  line(pa, "ünïcödé 日本語 😀 and a lone surrogate \ud800 here");
  line(pb, "other prefix");
  out.write("a plain write\n");
  expected.push("a plain write\n");
  line(pb, "after the write");
  line(pa, "x".repeat(40_000));
  line(pa, "é".repeat(20_000));
  for (let i = 0; i < 20_000; i++) line(pb, "");
  line("", "no prefix");
  out.flush();
  const text = Buffer.concat(writes).toString();
  assert.equal(text, expected.join("").replace("\ud800", "\ufffd"));
});

test("fd sink: everything reaches the file in order; a reader that went away stops the output without an error", async (t) => {
  const { mkdtempSync, openSync, closeSync, readFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { spawnSync } = await import("node:child_process");
  const dir = mkdtempSync(join(tmpdir(), "nr-fdsink-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "out");
  const fd = openSync(file, "w");
  const sink = fdSink(fd);
  for (let i = 0; i < 100; i++) sink(Buffer.from(`${i} ✓\n`));
  closeSync(fd);
  assert.equal(readFileSync(file, "utf8"), Array.from({ length: 100 }, (_, i) => `${i} ✓\n`).join(""));

  // A child printing through the sink into a pipe whose reader exits after the first line.
  const script = `import { fdSink } from ${JSON.stringify(join(import.meta.dirname, "../../src/cli/batched-output.ts"))};
const s = fdSink(1); for (let i = 0; i < 100000; i++) s(Buffer.from("x".repeat(1000) + "\\n")); process.stderr.write("done");`;
  const r = spawnSync("bash", ["-c", `"${process.execPath}" --import tsx --input-type=module -e '${script.replace(/'/g, "'\\''")}' | head -c 10 >/dev/null`], { encoding: "utf8" });
  assert.equal(r.stderr.trim(), "done");
});
