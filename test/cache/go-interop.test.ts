// Wire compatibility with forgejo-runner's Go cache server and proxy, through
// the real @actions/cache client. Needs the harness binary described in
// fixtures/go-cachepair/README.md (FORGEJO_CACHEPAIR); skipped without it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { once } from "node:events";
import { startCacheServer, startCacheService } from "../../src/cache/index.js";
import { clientEnv, makeTree, runClient, tempDir, treeDigest } from "./helpers.js";

const BIN = process.env.FORGEJO_CACHEPAIR;
const skip = BIN ? false : "FORGEJO_CACHEPAIR (forgejo-runner cache harness) not set";
let base: string;
const children: ChildProcess[] = [];

before(async () => {
  base = await tempDir();
});
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await rm(base, { recursive: true, force: true });
});

async function startGo(args: string[]): Promise<string> {
  const child = spawn(BIN!, args, { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let text = "";
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      text += d.toString();
      const m = /listening (\S+)/.exec(text);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`harness exited with ${code}: ${text}`)));
  });
}

async function roundTrip(env: Record<string, string>, token: string): Promise<void> {
  const ws = await tempDir("nr-ws-");
  await mkdir(join(ws, ".tmp"));
  const digest = await makeTree(join(ws, "data"), 10, 50_000, "go");
  const e = clientEnv(env, token, ws, join(ws, ".tmp"));
  const s = await runClient(e, ws, ["save", "Interop-Key-1", "data"]);
  assert.equal(s.ok, true, s.output);
  assert.ok((s.cacheId ?? 0) > 0, s.output);
  await rm(join(ws, "data"), { recursive: true });
  const r = await runClient(e, ws, ["restore", "interop-key-2", "interop-key-", "data"]);
  assert.equal(r.hit, "interop-key-1", r.output);
  assert.equal(await treeDigest(join(ws, "data")), digest);
  const miss = await runClient(e, ws, ["restore", "other", "-", "data"]);
  assert.equal(miss.hit, null, miss.output);
  await rm(ws, { recursive: true, force: true });
}

test("native-runner proxy → forgejo-runner cache server", { skip }, async () => {
  const server = await startGo(["server", join(base, "go-store"), "0", "interop-secret"]);
  const svc = await startCacheService({
    dir: join(base, "unused"), host: "127.0.0.1", port: 0, proxyPort: 0, secret: "interop-secret",
    maxSize: 1 << 30, macMaxAge: 0, externalServer: server,
  });
  try {
    const main = svc.registerJob({ repository: "o/interop", runtimeToken: "t", eventName: "push", event: {}, ref: "refs/heads/main", runId: 7 });
    await roundTrip(main.env, "t");
    // An isolated pull request run, signed with its isolation key, reads the base entry.
    const pr = svc.registerJob({
      repository: "o/interop", runtimeToken: "t2", eventName: "pull_request", ref: "refs/pull/3/head", runId: 8,
      event: { number: 3, pull_request: { number: 3, head: { repo: { full_name: "o/interop" } }, base: { repo: { full_name: "o/interop" } } } },
    });
    const ws = await tempDir("nr-ws-");
    await mkdir(join(ws, ".tmp"));
    const r = await runClient(clientEnv(pr.env, "t2", ws, join(ws, ".tmp")), ws, ["restore", "interop-key-1", "-", "data"]);
    assert.equal(r.hit, "interop-key-1", r.output);
    main.release();
    pr.release();
  } finally {
    await svc.close();
  }
});

test("forgejo-runner proxy → native-runner cache-server", { skip }, async () => {
  const server = await startCacheServer({ dir: join(base, "nr-store"), host: "127.0.0.1", port: 0, secret: "interop-secret", maxSize: 1 << 30, macMaxAge: 3600_000 });
  try {
    const url = await startGo(["proxy", server.url, "0", "interop-secret", "o/go-proxy", "12", ""]);
    await roundTrip({ ACTIONS_CACHE_URL: url, ACTIONS_CACHE_SERVICE_V2: "" }, "anything");
    assert.equal(server.store.stats().entries, 1);
    const bad = await startGo(["proxy", server.url, "0", "wrong-secret", "o/go-proxy", "12", ""]);
    const ws = await tempDir("nr-ws-");
    await mkdir(join(ws, ".tmp"));
    const r = await runClient(clientEnv({ ACTIONS_CACHE_URL: bad, ACTIONS_CACHE_SERVICE_V2: "" }, "x", ws, join(ws, ".tmp")), ws, ["restore", "interop-key-1", "-", "data"]);
    assert.equal(r.hit, null, r.output);
    assert.match(r.output, /403/);
  } finally {
    for (const c of children) if (c.exitCode === null) {
      c.kill("SIGTERM");
      await once(c, "exit");
    }
    await server.close();
  }
});
