import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runsOnOf } from "../../src/daemon/task-runner.js";
import { createDaemonObservability } from "../../src/daemon/daemon-observer.js";
import { parseConfig } from "../../src/config/index.js";
import { silentLogger } from "../../src/observability/logger.js";

test("jobs are counted by result and runs-on label", async () => {
  assert.equal(runsOnOf('jobs:\n    build:\n        runs-on: native\n        steps: []\n'), "native");
  assert.equal(runsOnOf("jobs:\n  b:\n    runs-on: [self-hosted, linux]\n"), "self-hosted,linux");
  assert.equal(runsOnOf("not: [valid"), "");
  const dir = mkdtempSync(join(tmpdir(), "nr-obs-"));
  const cfg = parseConfig(`metrics:\n  enabled: true\nrunner:\n  file: ${dir}/.runner\n`, "c.yaml", { env: { HOME: dir }, cwd: dir });
  const obs = await createDaemonObservability(cfg, "test", silentLogger());
  const info = { taskId: "1", connection: "default", repository: "o/r", job: "build", runsOn: "native" };
  obs.observer.taskStarted?.(info);
  obs.observer.taskFinished?.({ ...info, result: "success", durationMs: 1200, reported: true });
  obs.observer.cacheActivity?.({ kind: "lookup", hit: true });
  obs.observer.cacheActivity?.({ kind: "download", bytes: 42 });
  const text = await obs.metrics!.registry.metrics();
  assert.match(text, /native_runner_jobs_total\{result="success",label="native"\} 1/);
  assert.match(text, /native_runner_cache_requests_total\{result="hit"\} 1/);
  assert.match(text, /native_runner_cache_bytes_total\{direction="download"\} 42/);
  await obs.close();
});
