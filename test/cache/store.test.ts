// Quota eviction (LRU by bytes), expiry rules and concurrent restores.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { CacheStore, startCacheService } from "../../src/cache/index.js";
import { raw, tempDir } from "./helpers.js";

let base: string;
before(async () => {
  base = await tempDir();
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

async function put(store: CacheStore, repo: string, key: string, data: Buffer, iso = "", version = "v"): Promise<number> {
  const e = await store.reserve(repo, key, version, data.length, iso);
  await store.writeChunk(e, { start: 0, end: data.length - 1 }, Readable.from([data]), data.length);
  await store.commit(e, data.length);
  return e.id;
}

test("quota: least recently used entries are evicted by bytes", async () => {
  let now = 1_000_000;
  const store = new CacheStore({ dir: join(base, "quota"), maxSize: 100_000, now: () => now });
  try {
    const a = await put(store, "o/r", "a", randomBytes(40_000));
    now += 1000;
    const b = await put(store, "o/r", "b", randomBytes(40_000));
    now += 1000;
    assert.equal(store.find("o/r", ["a"], "v", "")?.id, a); // a is now more recent than b
    now += 1000;
    const c = await put(store, "o/r", "c", randomBytes(40_000));
    assert.equal(store.find("o/r", ["b"], "v", ""), undefined);
    assert.equal(store.find("o/r", ["a"], "v", "")?.id, a);
    assert.equal(store.find("o/r", ["c"], "v", "")?.id, c);
    assert.ok(store.stats().bytes <= 100_000);
    assert.ok(b < c);
    // Unknown size: made room for at commit.
    now += 1000;
    const e = await store.reserve("o/r", "d", "v", 0, "");
    const d = randomBytes(70_000);
    await store.writeChunk(e, { start: 0, end: d.length - 1 }, Readable.from([d]), d.length);
    await store.commit(e, d.length);
    assert.equal(store.find("o/r", ["a"], "v", ""), undefined);
    assert.equal(store.find("o/r", ["c"], "v", ""), undefined);
    assert.equal(store.find("o/r", ["d"], "v", "")?.size, 70_000);
    assert.ok(store.stats().bytes <= 100_000);
    // Bigger than the quota: refused at reservation.
    await assert.rejects(store.reserve("o/r", "huge", "v", 100_001, ""), /quota/);
  } finally {
    await store.close();
  }
});

test("quota: reservations in progress count, and are not evicted", async () => {
  const store = new CacheStore({ dir: join(base, "quota2"), maxSize: 100_000 });
  try {
    const e1 = await store.reserve("o/r", "x", "v", 60_000, "");
    await assert.rejects(store.reserve("o/r", "y", "v", 60_000, ""), /uploads in progress/);
    assert.equal(store.stats().uploads, 1);
    assert.ok(e1.id > 0);
  } finally {
    await store.close();
  }
});

test("expiry as forgejo-runner: stale uploads, unused, old, superseded duplicates", async () => {
  let now = 10 * 24 * 3600_000;
  const min = 60_000;
  const day = 24 * 3600_000;
  const store = new CacheStore({ dir: join(base, "expiry"), maxSize: 1 << 30, now: () => now });
  try {
    const old = await put(store, "o/r", "old", Buffer.from("1"));
    const dup1 = await put(store, "o/r", "dup", Buffer.from("first"));
    now += 1000;
    const dup2 = await put(store, "o/r", "dup", Buffer.from("second"));
    const otherRepoDup = await put(store, "o/other", "dup", Buffer.from("x"));
    const isolatedDup = await put(store, "o/r", "dup", Buffer.from("pr"), "refs/pull/1/head");
    const upload = await store.reserve("o/r", "pending", "v", 10, "");
    // Superseded, but used within 5 minutes: kept.
    assert.equal(store.expire(), 0);
    now += 6 * min;
    store.find("o/r", ["dup"], "v", ""); // touches dup2 only
    assert.equal(store.expire(), 2); // dup1 and the stale upload
    assert.equal(store.find("o/r", ["dup"], "v", "")?.id, dup2);
    assert.equal(store.find("o/other", ["dup"], "v", "")?.id, otherRepoDup);
    assert.equal(store.find("o/r", ["dup"], "v", "refs/pull/1/head")?.id, isolatedDup);
    assert.equal(store.stats().uploads, 0);
    assert.ok(dup1 < dup2 && upload.id > 0);
    // Unused for 7 days.
    now += 7 * day;
    store.find("o/r", ["dup"], "v", "");
    store.expire();
    assert.equal(store.find("o/r", ["old"], "v", ""), undefined);
    assert.equal(store.find("o/r", ["dup"], "v", "")?.id, dup2);
    // Created more than 30 days ago, even if used.
    for (let i = 0; i < 5; i++) {
      now += 5 * day;
      store.find("o/r", ["dup"], "v", "");
      store.expire();
    }
    assert.equal(store.find("o/r", ["dup"], "v", ""), undefined);
    assert.ok(old > 0);
  } finally {
    await store.close();
  }
});

test("16 concurrent restores of one entry through the proxy", async () => {
  const svc = await startCacheService({
    dir: join(base, "concurrent"), host: "127.0.0.1", port: 0, proxyPort: 0, secret: "s", maxSize: 1 << 30, macMaxAge: 0,
  });
  try {
    const h = svc.registerJob({ repository: "o/c", runtimeToken: "t", eventName: "push", event: {}, ref: "refs/heads/main" });
    const url = `${h.env.ACTIONS_CACHE_URL}_apis/artifactcache`;
    const data = randomBytes(4 << 20);
    const id = (await raw(`${url}/caches`, "POST", { Authorization: "Bearer t" }, JSON.stringify({ key: "k", version: "v", cacheSize: data.length }))).json().cacheId as number;
    const half = data.length / 2;
    const parts = await Promise.all([
      raw(`${url}/caches/${id}`, "PATCH", { Authorization: "Bearer t", "Content-Range": `bytes ${half}-${data.length - 1}/*` }, data.subarray(half)),
      raw(`${url}/caches/${id}`, "PATCH", { Authorization: "Bearer t", "Content-Range": `bytes 0-${half - 1}/*` }, data.subarray(0, half)),
    ]);
    assert.deepEqual(parts.map((p) => p.status), [200, 200]);
    assert.equal((await raw(`${url}/caches/${id}`, "POST", { Authorization: "Bearer t" }, JSON.stringify({ size: data.length }))).status, 200);
    const loc = (await raw(`${url}/cache?keys=k&version=v`, "GET", { Authorization: "Bearer t" })).json().archiveLocation as string;
    const want = createHash("sha256").update(data).digest("hex");
    const got = await Promise.all(Array.from({ length: 16 }, () => raw(loc, "GET")));
    for (const g of got) {
      assert.equal(g.status, 200);
      assert.equal(createHash("sha256").update(g.body).digest("hex"), want);
    }
    h.release();
  } finally {
    await svc.close();
  }
});

test("chunks in any order, concurrently, with retries, assemble byte-exact", async () => {
  const fc = await import("fast-check");
  const store = new CacheStore({ dir: join(base, "chunks"), maxSize: 1 << 30 });
  try {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 200_000 }),
        fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
        fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        async (size, weights, order, retry) => {
          const data = randomBytes(size);
          // Cut points from the weights.
          const total = weights.reduce((a, b) => a + b, 0);
          const cuts = [0];
          let acc = 0;
          for (const w of weights) {
            acc += w;
            const c = Math.round((acc / total) * size);
            if (c > cuts[cuts.length - 1]!) cuts.push(c);
          }
          const ranges = cuts.slice(1).map((end, i) => ({ start: cuts[i]!, end: end - 1 }));
          const shuffled = ranges.map((r, i) => ({ r, k: order[i] ?? 0 })).sort((a, b) => a.k - b.k).map((x) => x.r);
          const key = `p${n++}`;
          const e = await store.reserve("o/p", key, "v", size, "");
          const write = (r: { start: number; end: number }) =>
            store.writeChunk(e, r, Readable.from([data.subarray(r.start, r.end + 1)]), r.end - r.start + 1);
          await Promise.all(shuffled.map(write));
          // Retried chunks replace themselves.
          await Promise.all(shuffled.filter((_, i) => retry[i]).map(write));
          await store.commit(e, size);
          const { fh } = await store.openForRead(e.id, "o/p", "");
          const back = await fh.readFile();
          await fh.close();
          return back.equals(data);
        },
      ),
      { numRuns: 25 },
    );
  } finally {
    await store.close();
  }
});
