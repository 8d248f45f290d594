// Malformed and hostile requests over raw HTTP: each gets a 4xx JSON error,
// and what is stored stays intact.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { request } from "node:http";
import { startCacheService, type CacheService } from "../../src/cache/index.js";
import { raw, tempDir, type RawResponse } from "./helpers.js";

const MAX = 1 << 20;
let svc: CacheService;
let base: string;
let dir: string;
let url: string;
let token: string;
let release: () => void;

before(async () => {
  base = await tempDir();
  dir = join(base, "cache");
  svc = await startCacheService({ dir, host: "127.0.0.1", port: 0, proxyPort: 0, secret: "k", maxSize: MAX, macMaxAge: 60_000 });
  token = randomBytes(8).toString("hex");
  const h = svc.registerJob({ repository: "owner/bad", runtimeToken: token, eventName: "push", event: {}, ref: "refs/heads/main" });
  url = `${h.env.ACTIONS_CACHE_URL}_apis/artifactcache`;
  release = h.release;
});
after(async () => {
  release();
  await svc.close();
  await rm(base, { recursive: true, force: true });
});

const auth = () => ({ Authorization: `Bearer ${token}` });

function expectJsonError(r: RawResponse, status: number, pattern?: RegExp): void {
  assert.equal(r.status, status, r.body.toString());
  assert.match(String(r.headers["content-type"]), /application\/json/);
  const err = r.json().error;
  assert.equal(typeof err, "string");
  if (pattern) assert.match(err as string, pattern);
}

async function reserve(key: string, size: number, version = "v1"): Promise<RawResponse> {
  return raw(`${url}/caches`, "POST", { ...auth(), "Content-Type": "application/json" }, JSON.stringify({ key, version, cacheSize: size }));
}

async function reserveId(key: string, size: number): Promise<number> {
  const r = await reserve(key, size);
  assert.equal(r.status, 200, r.body.toString());
  return r.json().cacheId as number;
}

const patch = (id: number | string, range: string, body: Buffer) =>
  raw(`${url}/caches/${id}`, "PATCH", { ...auth(), "Content-Type": "application/octet-stream", "Content-Range": range }, body);
const commit = (id: number | string, size?: number) =>
  raw(`${url}/caches/${id}`, "POST", { ...auth(), "Content-Type": "application/json" }, JSON.stringify(size === undefined ? {} : { size }));

/** A committed reference entry; every test ends by checking it still reads back intact. */
let refData: Buffer;
let refId: number;

async function assertReferenceIntact(): Promise<void> {
  const r = await raw(`${url}/cache?keys=reference&version=v1`, "GET", auth());
  assert.equal(r.status, 200);
  const loc = r.json().archiveLocation as string;
  const d = await raw(loc, "GET");
  assert.equal(d.status, 200);
  assert.equal(createHash("sha256").update(d.body).digest("hex"), createHash("sha256").update(refData).digest("hex"));
}

test("setup: a reference entry uploaded in two chunks out of order", async () => {
  refData = randomBytes(5000);
  refId = await reserveId("reference", refData.length);
  assert.equal((await patch(refId, "bytes 3000-4999/*", refData.subarray(3000))).status, 200);
  assert.equal((await patch(refId, "bytes 0-2999/*", refData.subarray(0, 3000))).status, 200);
  assert.equal((await commit(refId, refData.length)).status, 200);
  await assertReferenceIntact();
});

test("Range requests on an archive", async () => {
  const r = await raw(`${url}/cache?keys=reference&version=v1`, "GET", auth());
  const loc = r.json().archiveLocation as string;
  const part = await raw(loc, "GET", { Range: "bytes=100-199" });
  assert.equal(part.status, 206);
  assert.equal(part.headers["content-range"], `bytes 100-199/${refData.length}`);
  assert.deepEqual(part.body, refData.subarray(100, 200));
  const tail = await raw(loc, "GET", { Range: "bytes=-10" });
  assert.deepEqual(tail.body, refData.subarray(refData.length - 10));
  const open = await raw(loc, "GET", { Range: "bytes=4990-" });
  assert.deepEqual(open.body, refData.subarray(4990));
  expectJsonError(await raw(loc, "GET", { Range: "bytes=6000-7000" }), 416);
  const head = await raw(loc, "HEAD");
  assert.equal(head.status, 200);
  assert.equal(head.headers["content-length"], String(refData.length));
  assert.equal(head.body.length, 0);
});

test("path traversal in keys and ids", async () => {
  expectJsonError(await reserve("../../etc/passwd", 10), 400, /path segments/);
  expectJsonError(await reserve("a/../../b", 10), 400);
  expectJsonError(await reserve("bad\u0000key", 10), 400);
  expectJsonError(await reserve("with,comma", 10), 400);
  for (const id of ["..%2F..%2Findex.sqlite", "%2e%2e", "1abc", "-1", "0", "1.5", "01"]) {
    expectJsonError(await raw(`${url}/artifacts/${id}`, "GET"), 400, /invalid cache id/);
    expectJsonError(await patch(id, "bytes 0-0/*", Buffer.from("x")), 400, /invalid cache id/);
  }
  for (const p of ["/artifacts/../../index.sqlite", "/artifacts/1/../../x", "/caches/1/2", "/nope"]) {
    const r = await raw(`${url}${p}`, "GET", auth());
    assert.ok(r.status >= 400 && r.status < 500, `${p}: ${r.status}`);
    assert.equal(typeof r.json().error, "string");
  }
  // Nothing outside the store's own layout appeared.
  assert.deepEqual((await readdir(dir)).filter((n) => !n.startsWith("index.sqlite")).sort(), ["blobs", "uploads"]);
  await assertReferenceIntact();
});

test("wrong and overlapping Content-Range", async () => {
  const id = await reserveId("ranges", 100);
  const data = randomBytes(100);
  expectJsonError(await raw(`${url}/caches/${id}`, "PATCH", auth(), data.subarray(0, 10)), 400, /Content-Range/);
  expectJsonError(await patch(id, "bytes=0-9", data.subarray(0, 10)), 400, /malformed/);
  expectJsonError(await patch(id, "bytes 9-0/*", data.subarray(0, 10)), 400, /before start/);
  expectJsonError(await patch(id, "bytes 0-9/*", data.subarray(0, 5)), 400, /does not match|says/);
  expectJsonError(await patch(id, "bytes 0-9/*", data.subarray(0, 20)), 400);
  expectJsonError(await patch(id, "bytes 95-104/*", data.subarray(0, 10)), 400, /reserved size/);
  expectJsonError(await patch(id, "bytes 0-9/50", data.subarray(0, 10)), 400, /reserved size/);
  assert.equal((await patch(id, "bytes 0-49/*", data.subarray(0, 50))).status, 200);
  expectJsonError(await patch(id, "bytes 40-59/*", data.subarray(40, 60)), 400, /overlaps/);
  // The same range again is a retry and replaces the earlier copy.
  assert.equal((await patch(id, "bytes 0-49/*", data.subarray(0, 50))).status, 200);
  assert.equal((await patch(id, "bytes 50-99/*", data.subarray(50))).status, 200);
  assert.equal((await commit(id, 100)).status, 200);
  const r = await raw(`${url}/cache?keys=ranges&version=v1`, "GET", auth());
  const d = await raw(r.json().archiveLocation as string, "GET");
  assert.deepEqual(d.body, data);
  await assertReferenceIntact();
});

test("commit with missing bytes, then chunks after commit", async () => {
  const id = await reserveId("missing", 300);
  const data = randomBytes(300);
  assert.equal((await patch(id, "bytes 0-99/*", data.subarray(0, 100))).status, 200);
  assert.equal((await patch(id, "bytes 200-299/*", data.subarray(200))).status, 200);
  expectJsonError(await commit(id, 300), 400, /missing bytes 100-199/);
  // Not served while incomplete.
  assert.equal((await raw(`${url}/cache?keys=missing&version=v1`, "GET", auth())).status, 204);
  expectJsonError(await raw(`${url}/artifacts/${id}`, "GET"), 404);
  assert.equal((await patch(id, "bytes 100-199/*", data.subarray(100, 200))).status, 200);
  expectJsonError(await commit(id, 299), 400, /differs/);
  assert.equal((await commit(id, 300)).status, 200);
  expectJsonError(await patch(id, "bytes 0-9/*", data.subarray(0, 10)), 400, /already complete/);
  expectJsonError(await commit(id, 300), 400, /already complete/);
  const r = await raw(`${url}/cache?keys=missing&version=v1`, "GET", auth());
  assert.deepEqual((await raw(r.json().archiveLocation as string, "GET")).body, data);
  await assertReferenceIntact();
});

test("short commit without a reserved size", async () => {
  const id = await reserveId("unknown-size", 0);
  expectJsonError(await commit(id, 10), 400, /differs/);
});

test("bad token and unknown run", async () => {
  expectJsonError(await raw(`${url}/cache?keys=reference&version=v1`, "GET"), 401);
  expectJsonError(await raw(`${url}/cache?keys=reference&version=v1`, "GET", { Authorization: "Bearer wrong" }), 401);
  expectJsonError(await raw(`${url}/caches`, "POST", { Authorization: `Bearer ${token}x` }, "{}"), 401);
  const other = url.replace(/\/[0-9a-f]{32}\//, `/${"0".repeat(32)}/`);
  expectJsonError(await raw(`${other}/cache?keys=reference&version=v1`, "GET", auth()), 403);
  expectJsonError(await raw(`${svc.url}/1234/_apis/artifactcache/cache?keys=a`, "GET", auth()), 404);
  await assertReferenceIntact();
});

test("reservations over quota, unknown ids, bad JSON", async () => {
  expectJsonError(await reserve("huge", MAX + 1), 400, /quota/);
  expectJsonError(await reserve("neg", 1.5), 400);
  expectJsonError(await raw(`${url}/caches`, "POST", { ...auth(), "Content-Type": "application/json" }, "{not json"), 400);
  expectJsonError(await raw(`${url}/caches`, "POST", { ...auth(), "Content-Type": "application/json" }, "[1]"), 400);
  expectJsonError(await raw(`${url}/caches`, "POST", { ...auth(), "Content-Type": "application/json" }, JSON.stringify({ version: "v" })), 400, /key/);
  expectJsonError(await patch(987654, "bytes 0-0/*", Buffer.from("x")), 404);
  expectJsonError(await commit(987654), 404);
  expectJsonError(await raw(`${url}/artifacts/987654`, "GET"), 404);
  expectJsonError(await raw(`${url}/cache?version=v1`, "GET", auth()), 400, /keys/);
  expectJsonError(await raw(`${url}/cache?keys=a`, "DELETE", auth()), 405);
  assert.equal((await raw(`${url}/clean`, "POST", auth())).status, 200);
  await assertReferenceIntact();
});

test("another repository's and another isolation's ids", async () => {
  const h = svc.registerJob({ repository: "owner/other", runtimeToken: "t2", eventName: "push", event: {}, ref: "refs/heads/main" });
  const otherUrl = `${h.env.ACTIONS_CACHE_URL}_apis/artifactcache`;
  expectJsonError(await raw(`${otherUrl}/artifacts/${refId}`, "GET"), 404);
  expectJsonError(await raw(`${otherUrl}/caches/${refId}`, "PATCH", { Authorization: "Bearer t2", "Content-Range": "bytes 0-0/*" }, "x"), 404);
  h.release();
  const pr = svc.registerJob({
    repository: "owner/bad", runtimeToken: "t3", eventName: "pull_request", ref: "refs/pull/3/head",
    event: { number: 3, pull_request: { number: 3, head: { repo: { full_name: "owner/bad" } }, base: { repo: { full_name: "owner/bad" } } } },
  });
  const prUrl = `${pr.env.ACTIONS_CACHE_URL}_apis/artifactcache`;
  const id = await reserveId("base-upload", 10);
  expectJsonError(await raw(`${prUrl}/caches/${id}`, "PATCH", { Authorization: "Bearer t3", "Content-Range": "bytes 0-9/*" }, "0123456789"), 403, /isolation/);
  // The PR may read the base entry.
  assert.equal((await raw(`${prUrl}/artifacts/${refId}`, "GET")).status, 200);
  pr.release();
  await assertReferenceIntact();
});

test("reserving a key that is being uploaded is refused with 409", async () => {
  const id = await reserveId("busy", 10);
  expectJsonError(await reserve("busy", 10), 409, /already being uploaded/);
  expectJsonError(await reserve("BUSY", 10), 409);
  // Another version of the same key is a different entry.
  assert.equal((await reserve("busy", 10, "v2")).status, 200);
  assert.equal((await patch(id, "bytes 0-9/*", Buffer.from("0123456789"))).status, 200);
  assert.equal((await commit(id, 10)).status, 200);
  // Once committed, a newer save of the same key is allowed and wins.
  const id2 = await reserveId("busy", 3);
  assert.equal((await patch(id2, "bytes 0-2/*", Buffer.from("new"))).status, 200);
  assert.equal((await commit(id2, 3)).status, 200);
  const r = await raw(`${url}/cache?keys=BUSY&version=v1`, "GET", auth());
  assert.equal(r.json().cacheKey, "busy");
  assert.equal((await raw(r.json().archiveLocation as string, "GET")).body.toString(), "new");
});

test("concurrent reservations of one key: exactly one wins", async () => {
  const results = await Promise.all(Array.from({ length: 6 }, () => reserve("race", 10)));
  assert.deepEqual(results.map((r) => r.status).sort(), [200, 409, 409, 409, 409, 409]);
});

test("a chunked body longer than its Content-Range gets a JSON 400, not a reset", async () => {
  const id = await reserveId("chunked", 10);
  const r = await new Promise<RawResponse>((resolve, reject) => {
    const u = new URL(`${url}/caches/${id}`);
    const req = request({ hostname: u.hostname, port: u.port, path: u.pathname, method: "PATCH", headers: { ...auth(), "Content-Range": "bytes 0-9/*", "Transfer-Encoding": "chunked" } }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => {
        const body = Buffer.concat(parts);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body.toString()) as Record<string, unknown> });
      });
    });
    req.on("error", reject);
    req.write(Buffer.alloc(8, 1));
    setTimeout(() => req.end(Buffer.alloc(8, 2)), 50);
  });
  expectJsonError(r, 400, /longer than Content-Range/);
  expectJsonError(await commit(id, 10), 400, /missing bytes/);
});
