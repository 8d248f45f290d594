// Every series /metrics serves is documented in docs/configuration.md (name, type, labels).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { RunnerMetrics } from "../../src/observability/metrics.js";

const doc = readFileSync(join(import.meta.dirname, "../../docs/configuration.md"), "utf8");

test("every runner metric is documented with its type and labels", async () => {
  const m = new RunnerMetrics({ defaultMetrics: false });
  const series = await m.registry.getMetricsAsJSON();
  assert.ok(series.length > 10);
  for (const s of series) {
    const row = doc.split("\n").find((l) => l.startsWith(`| \`${s.name}\` |`));
    assert.ok(row, `${s.name} is not in the /metrics table of docs/configuration.md`);
    const cells = row.split("|").map((c) => c.trim());
    assert.equal(cells[2], String(s.type), `${s.name}: type`);
    const labels = (m.registry.getSingleMetric(s.name) as unknown as { labelNames: string[] }).labelNames;
    for (const l of labels) assert.match(cells[3]!, new RegExp(`\`${l}\``), `${s.name}: label ${l}`);
    if (labels.length === 0) assert.equal(cells[3], "—", `${s.name}: no labels`);
    assert.ok(cells[4]!.length > 10, `${s.name}: meaning`);
  }
  // and the default metrics, by prefix
  const withDefaults = new RunnerMetrics();
  const names = (await withDefaults.registry.getMetricsAsJSON()).map((s) => s.name);
  assert.ok(names.some((n) => n.startsWith("native_runner_process_")) && names.some((n) => n.startsWith("native_runner_nodejs_")));
  assert.ok(names.every((n) => series.some((s) => s.name === n) || /^native_runner_(process|nodejs)_/.test(n)), names.join(", "));
  assert.match(doc, /`native_runner_process_\*`, `native_runner_nodejs_\*`/);
});
