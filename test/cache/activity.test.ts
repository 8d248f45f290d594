import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCacheService, type CacheActivity } from "../../src/cache/index.js";

test("the proxy reports lookups (hit/miss) and bytes saved and restored, for metrics", async () => {
  const dir = await mkdtemp(join(tmpdir(), "nr-cache-activity-"));
  const seen: CacheActivity[] = [];
  const svc = await startCacheService({
    dir, host: "127.0.0.1", port: 0, proxyPort: 0, secret: "", maxSize: 1 << 30, macMaxAge: 0,
    onActivity: (a) => seen.push(a),
  });
  try {
    const job = svc.registerJob({ repository: "o/r", runtimeToken: "tok", eventName: "push", event: {}, ref: "refs/heads/main" });
    const base = `${job.env.ACTIONS_CACHE_URL}_apis/artifactcache`;
    const auth = { authorization: "Bearer tok", accept: "application/json;api-version=6.0-preview.1" };
    const lookup = () => fetch(`${base}/cache?keys=k1&version=v1`, { headers: auth });
    assert.equal((await lookup()).status, 204);
    const reserve = await fetch(`${base}/caches`, {
      method: "POST", headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ key: "k1", version: "v1", cacheSize: 11 }),
    });
    const { cacheId } = (await reserve.json()) as { cacheId: number };
    const up = await fetch(`${base}/caches/${cacheId}`, {
      method: "PATCH", headers: { ...auth, "content-type": "application/octet-stream", "content-range": "bytes 0-10/*" },
      body: "hello world",
    });
    assert.equal(up.status, 200);
    await (await fetch(`${base}/caches/${cacheId}`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ size: 11 }) })).text();
    const hit = await lookup();
    assert.equal(hit.status, 200);
    const { archiveLocation } = (await hit.json()) as { archiveLocation: string };
    assert.equal(await (await fetch(archiveLocation)).text(), "hello world");
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(seen, [
      { kind: "lookup", hit: false },
      { kind: "upload", bytes: 11 },
      { kind: "lookup", hit: true },
      { kind: "download", bytes: 11 },
    ]);
    job.release();
  } finally {
    await svc.close();
    await rm(dir, { recursive: true, force: true });
  }
});
