// kill -9 in the middle of uploads: of the server process and of a client.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readdir, rm, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { startCacheService, startCacheServer, type CacheService } from "../../src/cache/index.js";
import { raw, ROOT, tempDir } from "./helpers.js";

const ENTRY = join(ROOT, "src/cli/entry.ts");
const STALLED = join(ROOT, "test/cache/fixtures/stalled-upload.mjs");
let base: string;

before(async () => {
  base = await tempDir();
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

async function startServerProcess(dir: string, port = 0): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", ENTRY, "cache-server", "--dir", dir, "--port", String(port)], {
    cwd: ROOT, env: { ...process.env, HOME: base, NATIVE_RUNNER_CACHE_SECRET: "crash-secret" }, stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  const url = await new Promise<string>((resolve, reject) => {
    const on = (d: Buffer) => {
      text += d.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (m) resolve(m[1]!);
    };
    child.stdout!.on("data", on);
    child.stderr!.on("data", on);
    child.once("exit", (code) => reject(new Error(`cache-server exited with ${code}: ${text}`)));
  });
  return { child, url };
}

async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGKILL");
  await once(child, "exit");
}

function api(h: { env: Record<string, string> }, token: string) {
  const url = `${h.env.ACTIONS_CACHE_URL}_apis/artifactcache`;
  const auth = { Authorization: `Bearer ${token}` };
  return {
    url,
    reserve: async (key: string, size: number) => {
      const r = await raw(`${url}/caches`, "POST", { ...auth, "Content-Type": "application/json" }, JSON.stringify({ key, version: "v", cacheSize: size }));
      return r;
    },
    patch: (id: number, start: number, body: Buffer) =>
      raw(`${url}/caches/${id}`, "PATCH", { ...auth, "Content-Range": `bytes ${start}-${start + body.length - 1}/*` }, body),
    commit: (id: number, size: number) => raw(`${url}/caches/${id}`, "POST", { ...auth, "Content-Type": "application/json" }, JSON.stringify({ size })),
    find: (key: string) => raw(`${url}/cache?keys=${key}&version=v`, "GET", auth),
  };
}

test("server killed with SIGKILL mid-upload: nothing half-written is served after restart", async () => {
  const dir = join(base, "server-kill");
  let { child, url } = await startServerProcess(dir);
  const port = Number(new URL(url).port);
  const svc = await startCacheService({
    dir: join(base, "unused"), host: "127.0.0.1", port: 0, proxyPort: 0, secret: "crash-secret",
    maxSize: 1 << 30, macMaxAge: 60_000, externalServer: url,
  });
  let stalled: ChildProcess | undefined;
  try {
    const h = svc.registerJob({ repository: "o/crash", runtimeToken: "t", eventName: "push", event: {}, ref: "refs/heads/main" });
    const a = api(h, "t");
    // A complete entry before the crash.
    const good = randomBytes(3 << 20);
    const gid = (await a.reserve("good", good.length)).json().cacheId as number;
    assert.equal((await a.patch(gid, 0, good)).status, 200);
    assert.equal((await a.commit(gid, good.length)).status, 200);
    // An upload with one chunk done and a second one stalled half way.
    const size = 8 << 20;
    const bid = (await a.reserve("broken", size)).json().cacheId as number;
    assert.equal((await a.patch(bid, size / 2, Buffer.alloc(size / 2, 1))).status, 200);
    stalled = spawn(process.execPath, [STALLED, `${a.url}/caches/${bid}`, "t", String(size / 2)], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => stalled!.stdout!.on("data", (d: Buffer) => d.toString().includes("HALF") && resolve()));
    await new Promise((r) => setTimeout(r, 200));
    await killHard(child);
    const uploadsBefore = await readdir(join(dir, "uploads"));
    assert.ok(uploadsBefore.length >= 1, "the half-written upload was on disk when the server died");

    ({ child, url } = await startServerProcess(dir, port));
    assert.equal((await a.find("broken")).status, 204);
    assert.equal((await raw(`${a.url}/artifacts/${bid}`, "GET")).status, 404);
    assert.equal((await a.patch(bid, 0, Buffer.alloc(size / 2, 1))).status, 404);
    assert.equal((await a.commit(bid, size)).status, 404);
    assert.deepEqual(await readdir(join(dir, "uploads")), []);
    // The entry committed before the crash is intact.
    const f = await a.find("good");
    assert.equal(f.status, 200);
    assert.deepEqual((await raw(f.json().archiveLocation as string, "GET")).body, good);
    // The key can be saved again right away.
    const nid = (await a.reserve("broken", 4)).json().cacheId as number;
    assert.ok(nid > bid, "ids are never reused");
    assert.equal((await a.patch(nid, 0, Buffer.from("good"))).status, 200);
    assert.equal((await a.commit(nid, 4)).status, 200);
    const f2 = await a.find("broken");
    assert.equal((await raw(f2.json().archiveLocation as string, "GET")).body.toString(), "good");
    h.release();
  } finally {
    if (stalled) await killHard(stalled);
    await svc.close();
    child.kill("SIGTERM");
    if (child.exitCode === null) await once(child, "exit");
  }
});

test("client killed with SIGKILL mid-upload: the entry is never served and is expired", async () => {
  const svc: CacheService = await startCacheService({
    dir: join(base, "client-kill"), host: "127.0.0.1", port: 0, proxyPort: 0, secret: "s",
    maxSize: 1 << 30, macMaxAge: 60_000, expiry: { uploadStale: 300, incompleteUnused: 300 },
  });
  try {
    const h = svc.registerJob({ repository: "o/client", runtimeToken: "t", eventName: "push", event: {}, ref: "refs/heads/main" });
    const a = api(h, "t");
    const size = 4 << 20;
    const id = (await a.reserve("k", size)).json().cacheId as number;
    const stalled = spawn(process.execPath, [STALLED, `${a.url}/caches/${id}`, "t", String(size)], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => stalled.stdout!.on("data", (d: Buffer) => d.toString().includes("HALF") && resolve()));
    // While the chunk is in flight the key is busy.
    assert.equal((await a.reserve("k", size)).status, 409);
    await killHard(stalled);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await a.find("k")).status, 204);
    assert.equal((await a.commit(id, size)).status, 400);
    // Once stale, the key can be reserved again, and expiry removes the dead upload.
    await new Promise((r) => setTimeout(r, 400));
    const again = await a.reserve("k", 3);
    assert.equal(again.status, 200);
    assert.equal((await a.patch(id, 0, Buffer.from("x"))).status, 404);
    assert.deepEqual(await readdir(join(base, "client-kill", "uploads")), [`${again.json().cacheId}.part`]);
    h.release();
  } finally {
    await svc.close();
  }
});

test("a crash between rename and marking complete leaves only orphans, removed at start", async () => {
  const dir = join(base, "orphans");
  let server = await startCacheServer({ dir, host: "127.0.0.1", port: 0, secret: "s", maxSize: 1 << 20, macMaxAge: 0 });
  await server.close();
  await mkdir(join(dir, "blobs", "07"), { recursive: true });
  await writeFile(join(dir, "blobs", "07", "7"), "orphan blob");
  await writeFile(join(dir, "blobs", "stray"), "x");
  await writeFile(join(dir, "uploads", "9.part"), "partial");
  server = await startCacheServer({ dir, host: "127.0.0.1", port: 0, secret: "s", maxSize: 1 << 20, macMaxAge: 0 });
  try {
    assert.deepEqual(await readdir(join(dir, "uploads")), []);
    assert.deepEqual(await readdir(join(dir, "blobs", "07")), []);
    assert.equal(server.store.stats().entries, 0);
    // A second server on the same directory is refused.
    await assert.rejects(startCacheServer({ dir, host: "127.0.0.1", port: 0, secret: "s", maxSize: 1 << 20, macMaxAge: 0 }), /in use/);
  } finally {
    await server.close();
  }
});
