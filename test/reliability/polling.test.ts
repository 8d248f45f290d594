// Idle backoff of the poller: doubling from fetch_interval up to
// fetch_interval_max, never beyond the ~30 s the server tolerates, back to
// fetch_interval on a task and when a task ends.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Poller } from "../../src/daemon/poller.js";
import { Supervisor } from "../../src/daemon/supervisor.js";
import { silentLogger } from "../../src/observability/logger.js";
import { FakeServer } from "../daemon/fake-client.js";
import { waitUntil } from "../daemon/harness.js";

const log = silentLogger();

function setup(o: { intervalMs: number; maxMs: number; maxSilenceMs?: number; url?: string }) {
  const server = new FakeServer();
  const sup = new Supervisor({ capacity: 1, taskTimeoutMs: 0, shutdownTimeoutMs: 0, log });
  const finishers: (() => void)[] = [];
  const client = server.client();
  const poller = new Poller({
    name: "t",
    client: o.url ? Object.assign(Object.create(client) as typeof client, { baseUrl: o.url }) : client,
    supervisor: sup,
    fetchIntervalMs: o.intervalMs,
    fetchIntervalMaxMs: o.maxMs,
    fetchTimeoutMs: 1000,
    labels: ["native"],
    version: "test",
    log,
    ...(o.maxSilenceMs ? { maxSilenceMs: o.maxSilenceMs } : {}),
    onTask: (task) => {
      void sup.start(`t${task.id}`, () => new Promise<void>((resolve) => finishers.push(resolve)), { reserved: true });
    },
  });
  const fetches = () => server.calls.filter((c) => c.rpc === "FetchTask");
  return { server, poller, finishers, fetches };
}

test("idle: the fetch interval doubles up to fetch_interval_max; a task resets it", async () => {
  const h = setup({ intervalMs: 20, maxMs: 160 });
  const run = h.poller.run();
  try {
    // 20 → 40 → 80 → 160 → 160 ...
    await waitUntil(() => h.poller.nextInterval === 160, 20_000, "backoff reached the ceiling");
    const before = h.fetches().length;
    await waitUntil(() => h.fetches().length >= before + 3, 20_000, "fetching at the ceiling");
    assert.equal(h.poller.nextInterval, 160, "never beyond fetch_interval_max");
    const gaps = h.fetches().slice(-3).map((c, i, a) => (i ? c.at - a[i - 1]!.at : 0)).slice(1);
    for (const g of gaps) assert.ok(g >= 150, `gap ${g} ms at the ceiling`);

    h.server.enqueueTask(1);
    await waitUntil(() => h.finishers.length === 1, 20_000, "task received");
    assert.equal(h.poller.nextInterval, 20, "a task resets the interval");
    // all slots busy: no fetching; the task ends → an immediate fetch, at the base interval
    const n = h.fetches().length;
    h.finishers[0]!();
    await waitUntil(() => h.fetches().length > n, 20_000, "fetch after the task ended");
    assert.ok(h.poller.nextInterval <= 40);
  } finally {
    h.poller.stop();
    await run;
  }
});

test("the backoff never exceeds the longest silence the server tolerates, and the Codeberg minimum stays", () => {
  const h = setup({ intervalMs: 50, maxMs: 600_000, maxSilenceMs: 400 });
  assert.equal((h.poller as unknown as { maxInterval: number }).maxInterval, 400);
  const cb = setup({ intervalMs: 2000, maxMs: 10_000, url: "https://codeberg.org/" });
  assert.equal(cb.poller.nextInterval, 30_000, "codeberg: at least 30 s");
  assert.equal((cb.poller as unknown as { maxInterval: number }).maxInterval, 30_000);
});
