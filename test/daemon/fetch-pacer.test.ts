// The poller's pace with a fake clock: fast after activity, fetch_interval when idle, backoff only when
// configured and only once the hot window has passed.

import { test } from "node:test";
import assert from "node:assert/strict";
import { FetchPacer, HOT_WINDOW_MS } from "../../src/daemon/fetch-pacer.js";

test("default (no fetch_interval_max above fetch_interval): 2 s when idle, 1 s for a while after activity, never more", () => {
  const p = new FetchPacer({ intervalMs: 2000, maxIntervalMs: 2000 });
  let now = 0;
  for (let i = 0; i < 100; i++, now += 2000) {
    assert.equal(p.wait(now), 2000);
    p.empty(now);
  }
  p.activity(now);
  assert.equal(p.wait(now), 1000);
  p.empty(now + 1000);
  assert.equal(p.wait(now + 1000), 1000, "the fetch right after a finished job does not slow down");
  assert.equal(p.wait(now + HOT_WINDOW_MS - 1), 1000);
  assert.equal(p.wait(now + HOT_WINDOW_MS), 2000);
  for (let t = now + HOT_WINDOW_MS; t < now + 20 * 60_000; t += 2000) p.empty(t);
  assert.equal(p.wait(now + 20 * 60_000), 2000, "ten minutes and more of idling: still fetch_interval");
});

test("idle requests per minute stay at 60 / fetch_interval", () => {
  const p = new FetchPacer({ intervalMs: 2000, maxIntervalMs: 2000 });
  let now = 0;
  let requests = 0;
  while (now < 10 * 60_000) {
    requests++;
    p.empty(now);
    now += p.wait(now);
  }
  assert.equal(requests / 10, 30);
});

test("explicit fetch_interval_max: backoff doubles per empty answer, only after the hot window, reset by activity", () => {
  const p = new FetchPacer({ intervalMs: 2000, maxIntervalMs: 30_000 });
  assert.equal(p.wait(0), 2000);
  const seen: number[] = [];
  let now = 0;
  for (let i = 0; i < 6; i++) {
    p.empty(now);
    seen.push(p.wait(now));
    now += p.wait(now);
  }
  assert.deepEqual(seen, [4000, 8000, 16_000, 30_000, 30_000, 30_000]);

  p.activity(now);
  const start = now;
  for (; now < start + HOT_WINDOW_MS; now += 1000) {
    p.empty(now);
    assert.equal(p.wait(now), 1000, "no backoff while hot");
  }
  assert.equal(p.wait(now), 2000, "back to fetch_interval after the hot window");
  p.empty(now);
  assert.equal(p.wait(now), 4000);
});

test("hot interval: half of fetch_interval, at least 1 s unless fetch_interval is shorter; none when asked", () => {
  assert.equal(new FetchPacer({ intervalMs: 200, maxIntervalMs: 200 }).hotIntervalMs, 200);
  assert.equal(new FetchPacer({ intervalMs: 1500, maxIntervalMs: 1500 }).hotIntervalMs, 1000);
  assert.equal(new FetchPacer({ intervalMs: 10_000, maxIntervalMs: 10_000 }).hotIntervalMs, 5000);
  assert.equal(new FetchPacer({ intervalMs: 30_000, maxIntervalMs: 30_000, noHotPolling: true }).hotIntervalMs, 30_000);
  assert.equal(new FetchPacer({ intervalMs: 5000, maxIntervalMs: 1000 }).maxIntervalMs, 5000, "ceiling never below the interval");
});
