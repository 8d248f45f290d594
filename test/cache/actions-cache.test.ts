// The real @actions/cache client against the cache service (proxy + store).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { rm, mkdir, writeFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { startCacheService, type CacheService } from "../../src/cache/index.js";
import { clientEnv, makeTree, raw, runClient, tempDir, treeDigest } from "./helpers.js";

let svc: CacheService;
let base: string;

before(async () => {
  base = await tempDir();
  svc = await startCacheService({
    dir: join(base, "cache"), host: "127.0.0.1", port: 0, proxyPort: 0, secret: "s3cret",
    maxSize: 1 << 30, macMaxAge: 60_000,
  });
});
after(async () => {
  await svc.close();
  await rm(base, { recursive: true, force: true });
});

interface Job { env: Record<string, string>; token: string; release(): void }

function job(repository: string, extra: Partial<{ eventName: string; event: Record<string, unknown>; ref: string; readOnly: boolean }> = {}): Job {
  const token = `tok-${Math.random().toString(36).slice(2)}`;
  const h = svc.registerJob({
    repository, runtimeToken: token, eventName: extra.eventName ?? "push", event: extra.event ?? {},
    ref: extra.ref ?? "refs/heads/main", runId: 42, ...(extra.readOnly !== undefined ? { readOnly: extra.readOnly } : {}),
  });
  return { env: h.env, token, release: () => h.release() };
}

async function workspace(): Promise<{ ws: string; temp: string }> {
  const ws = await tempDir("nr-cache-ws-");
  const temp = join(ws, ".tmp");
  await mkdir(temp);
  return { ws, temp };
}

async function save(j: Job, key: string, dir = "tree", content?: string): Promise<{ digest: string; cacheId?: number; output: string }> {
  const { ws, temp } = await workspace();
  let digest: string;
  if (content !== undefined) {
    await mkdir(join(ws, dir), { recursive: true });
    await writeFile(join(ws, dir, "content.txt"), content);
    digest = content;
  } else {
    digest = await makeTree(join(ws, dir), 25, 3000, key);
  }
  const r = await runClient(clientEnv(j.env, j.token, ws, temp), ws, ["save", key, dir]);
  assert.equal(r.ok, true, r.output);
  await rm(ws, { recursive: true, force: true });
  return { digest, ...(r.cacheId !== undefined ? { cacheId: r.cacheId } : {}), output: r.output };
}

async function restore(j: Job, key: string, restoreKeys: string[] = [], dir = "tree"): Promise<{ hit: string | null; digest?: string; content?: string; output: string }> {
  const { ws, temp } = await workspace();
  const r = await runClient(clientEnv(j.env, j.token, ws, temp), ws, ["restore", key, restoreKeys.join(",") || "-", dir]);
  assert.equal(r.ok, true, r.output);
  const out: { hit: string | null; digest?: string; content?: string; output: string } = { hit: r.hit ?? null, output: r.output };
  if (out.hit) {
    out.digest = await treeDigest(join(ws, dir));
    out.content = await readFile(join(ws, dir, "content.txt"), "utf8").catch(() => undefined);
  }
  await rm(ws, { recursive: true, force: true });
  return out;
}

test("job env selects the v1 protocol on a per-job URL", () => {
  const before = svc.stats().activeJobs;
  const j = job("owner/env");
  assert.equal(svc.stats().activeJobs, before + 1);
  assert.match(j.env.ACTIONS_CACHE_URL!, /^http:\/\/127\.0\.0\.1:\d+\/[0-9a-f]{32}\/$/);
  assert.equal(j.env.ACTIONS_CACHE_MODE, "write");
  assert.equal(j.env.ACTIONS_CACHE_SERVICE_V2, "");
  j.release();
  j.release();
  assert.equal(svc.stats().activeJobs, before);
});

test("round trip of a directory tree", async () => {
  const j = job("owner/roundtrip");
  const saved = await save(j, "tree-linux-abc");
  assert.ok((saved.cacheId ?? 0) > 0, saved.output);
  const r = await restore(j, "tree-linux-abc");
  assert.equal(r.hit, "tree-linux-abc", r.output);
  assert.equal(r.digest, saved.digest);
  j.release();
});

test("restore keys: exact first, then the newest prefix match", async () => {
  const j = job("owner/prefix");
  await save(j, "deps-v1-aaa", "tree", "old");
  await save(j, "deps-v1-bbb", "tree", "new");
  await save(j, "deps-v2-ccc", "tree", "other");
  const miss = await restore(j, "deps-v1-zzz", ["deps-v1-"]);
  assert.equal(miss.hit, "deps-v1-bbb");
  assert.equal(miss.content, "new");
  const exact = await restore(j, "deps-v1-aaa", ["deps-v1-"]);
  assert.equal(exact.hit, "deps-v1-aaa");
  assert.equal(exact.content, "old");
  // A key only ever matches as a prefix of stored keys, never the reverse.
  const none = await restore(j, "deps-v1-aaa-more", ["deps-v3"]);
  assert.equal(none.hit, null);
  j.release();
});

test("a miss restores nothing", async () => {
  const j = job("owner/miss");
  const r = await restore(j, "nothing-here", ["nothing-"]);
  assert.equal(r.hit, null, r.output);
  j.release();
});

test("two repositories cannot see each other's entries", async () => {
  const a = job("owner/repo-a");
  const b = job("owner/repo-b");
  await save(a, "shared-key", "tree", "from-a");
  assert.equal((await restore(b, "shared-key", ["shared"])).hit, null);
  await save(b, "shared-key", "tree", "from-b");
  assert.equal((await restore(a, "shared-key")).content, "from-a");
  assert.equal((await restore(b, "shared-key")).content, "from-b");
  a.release();
  b.release();
});

test("a pull request reads the base cache but cannot poison it", async () => {
  const repo = "owner/pr-poison";
  const main = job(repo);
  await save(main, "build-key", "tree", "trusted");
  const prEvent = {
    action: "opened", number: 7,
    pull_request: { number: 7, head: { repo: { full_name: repo } }, base: { repo: { full_name: repo } } },
  };
  const pr = job(repo, { eventName: "pull_request", event: prEvent, ref: "refs/pull/7/head" });
  assert.equal(pr.env.ACTIONS_CACHE_MODE, "write");
  assert.equal((await restore(pr, "build-key")).content, "trusted");
  await save(pr, "build-key", "tree", "poison");
  await save(pr, "pr-only-key", "tree", "pr-data");
  // The PR sees its own write; the base branch and other PRs do not.
  assert.equal((await restore(pr, "build-key")).content, "poison");
  const main2 = job(repo);
  assert.equal((await restore(main2, "build-key")).content, "trusted");
  assert.equal((await restore(main2, "pr-only-key")).hit, null);
  const other = job(repo, { eventName: "pull_request", event: { ...prEvent, number: 8 }, ref: "refs/pull/8/head" });
  assert.equal((await restore(other, "build-key")).content, "trusted");
  assert.equal((await restore(other, "pr-only-key")).hit, null);
  // pull_request_target runs base code and shares the repository cache.
  const target = job(repo, { eventName: "pull_request_target", event: prEvent, ref: "refs/heads/main" });
  assert.equal((await restore(target, "build-key")).content, "trusted");
  for (const j of [main, pr, main2, other, target]) j.release();
});

test("a fork pull request is read-only", async () => {
  const repo = "owner/forked";
  const main = job(repo);
  await save(main, "fork-key", "tree", "base");
  const fork = job(repo, {
    eventName: "pull_request", ref: "refs/pull/9/head",
    event: { action: "synchronize", number: 9, pull_request: { number: 9, head: { repo: { full_name: "evil/forked" } }, base: { repo: { full_name: repo } } } },
  });
  assert.equal(fork.env.ACTIONS_CACHE_MODE, "read");
  assert.equal((await restore(fork, "fork-key")).content, "base");
  const s = await save(fork, "fork-key", "tree", "evil");
  assert.equal(s.cacheId, -1, s.output);
  assert.match(s.output, /does not permit writes/);
  // A client that ignores ACTIONS_CACHE_MODE is refused by the proxy.
  const url = `${fork.env.ACTIONS_CACHE_URL}_apis/artifactcache/caches`;
  const r = await raw(url, "POST", { Authorization: `Bearer ${fork.token}`, "Content-Type": "application/json" }, JSON.stringify({ key: "fork-key", version: "v", cacheSize: 3 }));
  assert.equal(r.status, 403);
  assert.match(String(r.json().error), /^cache write denied:/);
  assert.equal((await restore(job(repo), "fork-key")).content, "base");
  fork.release();
  main.release();
});

test("per-connection read-only mode", async () => {
  const ro = job("owner/ro", { readOnly: true });
  assert.equal(ro.env.ACTIONS_CACHE_MODE, "read");
  const s = await save(ro, "ro-key", "tree", "x");
  assert.equal(s.cacheId, -1);
  assert.equal((await restore(job("owner/ro"), "ro-key")).hit, null);
  ro.release();
});

test("a released job's URL stops working", async () => {
  const j = job("owner/released");
  await save(j, "rel-key", "tree", "x");
  j.release();
  const r = await raw(`${j.env.ACTIONS_CACHE_URL}_apis/artifactcache/cache?keys=rel-key&version=x`, "GET", { Authorization: `Bearer ${j.token}` });
  assert.equal(r.status, 403);
  assert.ok(typeof r.json().error === "string");
  const again = await restore(j, "rel-key");
  assert.equal(again.hit, null);
});
