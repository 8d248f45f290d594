import { test } from "node:test";
import assert from "node:assert/strict";
import type { JobEvent } from "../../src/engine/events.js";
import { ConsolePrinter, formatDuration } from "../../src/exec/console-printer.js";
import { JsonPrinter } from "../../src/exec/json-printer.js";
import type { ExecObserver, JobRef } from "../../src/exec/orchestrator.js";

const job: JobRef = { key: "build-2", jobId: "build", name: "build (20)", matrix: { node: 20 }, workflow: "ci.yml" };
const t0 = new Date("2026-01-01T00:00:00.000Z");
const at = (ms: number) => new Date(t0.getTime() + ms);

function feed(p: ExecObserver & { runFinished(r: string): void }): void {
  const evs: JobEvent[] = [
    { type: "log", time: at(0), line: "native-runner 0.1.0", stage: "setup" },
    { type: "step-started", time: at(10), index: 0, id: "v", name: "Compute" },
    { type: "log", time: at(11), line: "##[group]details", stage: "step", stepIndex: 0 },
    { type: "log", time: at(12), line: "inside", stage: "step", stepIndex: 0 },
    { type: "log", time: at(13), line: "##[endgroup]", stage: "step", stepIndex: 0 },
    { type: "log", time: at(14), line: "outside", stage: "step", stepIndex: 0 },
    { type: "annotation", time: at(15), level: "warning", message: "look here", file: "a.ts", line: 3, stepIndex: 0 },
    { type: "log", time: at(15), line: "##[warning]look here", stage: "step", stepIndex: 0 },
    { type: "log", time: at(16), line: "##[error]Process completed with exit code 1.", stage: "step", stepIndex: 0 },
    { type: "step-finished", time: at(1510), index: 0, id: "v", outcome: "failure", conclusion: "success", outputs: { a: "1" } },
    { type: "summary", time: at(1600), markdown: "# Title\nbody\n" },
    { type: "log", time: at(1601), line: "##[group]Job summary", stage: "complete" },
    { type: "log", time: at(1602), line: "# Title", stage: "complete" },
    { type: "log", time: at(1603), line: "##[endgroup]", stage: "complete" },
    { type: "step-started", time: at(1650), index: 1, id: "never", name: "Never" },
    { type: "step-finished", time: at(1650), index: 1, id: "never", outcome: "skipped", conclusion: "skipped", outputs: {} },
    { type: "job-finished", time: at(1700), result: "success", outputs: {} },
  ];
  p.jobStarted(job);
  for (const e of evs) p.jobEvent(job, e);
  p.jobFinished(job, { result: "success", outcome: "success", outputs: { version: "1.20" }, durationMs: 1700 });
  p.jobFinished({ key: "skip", jobId: "skip", name: "skip", workflow: "ci.yml" }, { result: "skipped", outcome: "skipped", outputs: {}, durationMs: 0 });
  p.runFinished("success");
}

test("console printer: prefix, groups, step result with duration, annotations once, summary once, table", () => {
  let out = "";
  feed(new ConsolePrinter({ write: (s) => (out += s), color: false }));
  const lines = out.split("\n");
  assert.ok(lines.includes("[build (20)] ▶ Job build (20)"));
  assert.ok(lines.includes("[build (20)]   · native-runner 0.1.0"));
  assert.ok(lines.includes("[build (20)] ⏵ Compute"));
  assert.ok(lines.includes("[build (20)]   ▸ details"));
  assert.ok(lines.includes("[build (20)]     │ inside"), out);
  assert.ok(lines.includes("[build (20)]   │ outside"), out);
  assert.ok(lines.includes("[build (20)] warning a.ts:3 look here"));
  assert.equal(out.match(/look here/g)?.length, 1, "annotation and its log row print once");
  assert.ok(lines.includes("[build (20)]   error Process completed with exit code 1."));
  assert.ok(lines.includes("[build (20)] ✗ Compute (failure, continue-on-error) 1.5s"), out);
  assert.ok(lines.includes("[build (20)] ☰ Job summary"));
  assert.ok(lines.includes("[build (20)]   │ # Title"));
  assert.equal(out.match(/# Title/g)?.length, 1, "summary printed once");
  assert.ok(lines.includes("[build (20)] ✓ Job succeeded 1.7s"));
  assert.ok(lines.includes("[build (20)] ↷ Never 0ms"));
  assert.ok(!lines.includes("[build (20)] ⏵ Never"), "a skipped step prints one line");
  assert.ok(lines.includes("[skip] ↷ Job skipped 0ms"));
  assert.ok(lines.some((l) => /^JOB +RESULT +DURATION$/.test(l)), out);
  assert.ok(lines.some((l) => /^build \(20\) +success +1\.7s$/.test(l)));
  assert.doesNotMatch(out, /\x1b\[/);
});

test("console printer colors only when asked", () => {
  let out = "";
  feed(new ConsolePrinter({ write: (s) => (out += s), color: true }));
  assert.match(out, /\x1b\[\d+m\[build \(20\)\]\x1b\[0m/);
  assert.match(out, /\x1b\[32m✓\x1b\[0m Job succeeded/);
});

test("json printer: one object per line with the documented fields", () => {
  let out = "";
  feed(new JsonPrinter((s) => (out += s)));
  const evs = out.trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  const types = evs.map((e) => e.type);
  assert.deepEqual(types.slice(0, 3), ["job-start", "log", "step-start"]);
  assert.ok(!types.includes("job-finished"), "the engine's job-finished is replaced by job-finish");
  assert.deepEqual(evs[0], { type: "job-start", time: evs[0]!.time, job: "build-2", id: "build", name: "build (20)", matrix: { node: 20 }, workflow: "ci.yml" });
  const log = evs.find((e) => e.type === "log" && e.line === "inside")!;
  assert.deepEqual(log, { type: "log", time: "2026-01-01T00:00:00.012Z", job: "build-2", step: 0, stage: "step", line: "inside" });
  assert.equal(evs.find((e) => e.type === "log")!.step, null);
  const sf = evs.find((e) => e.type === "step-finish")!;
  assert.deepEqual(sf, { type: "step-finish", time: "2026-01-01T00:00:01.510Z", job: "build-2", index: 0, id: "v", name: "Compute", outcome: "failure", conclusion: "success", outputs: { a: "1" } });
  const ann = evs.find((e) => e.type === "annotation")!;
  assert.deepEqual(ann, { type: "annotation", time: "2026-01-01T00:00:00.015Z", job: "build-2", level: "warning", message: "look here", file: "a.ts", line: 3, stepIndex: 0 });
  assert.deepEqual(evs.find((e) => e.type === "summary"), { type: "summary", time: "2026-01-01T00:00:01.600Z", job: "build-2", markdown: "# Title\nbody\n" });
  const jf = evs.find((e) => e.type === "job-finish" && e.job === "build-2")!;
  assert.equal(jf.result, "success");
  assert.deepEqual(jf.outputs, { version: "1.20" });
  assert.equal(jf.durationMs, 1700);
  const rf = evs.at(-1)!;
  assert.equal(rf.type, "run-finish");
  assert.deepEqual(rf.jobs, [
    { job: "build-2", name: "build (20)", result: "success", durationMs: 1700 },
    { job: "skip", name: "skip", result: "skipped", durationMs: 0 },
  ]);
});

test("durations", () => {
  assert.equal(formatDuration(12), "12ms");
  assert.equal(formatDuration(1500), "1.5s");
  assert.equal(formatDuration(125_000), "2m5s");
});
