// The standalone `cache-server` as its own process, behind the proxy of a
// cache service configured with `external_server`, and its MAC checks.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { once } from "node:events";
import { createHash } from "node:crypto";
import { computeMac, startCacheServer, startCacheService, verifyMac } from "../../src/cache/index.js";
import { clientEnv, makeTree, raw, ROOT, runClient, tempDir, treeDigest } from "./helpers.js";

const ENTRY = join(ROOT, "src/cli/entry.ts");
let base: string;

before(async () => {
  base = await tempDir();
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

function cli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", ENTRY, ...args], {
    cwd: ROOT, env: { ...process.env, HOME: base, ...env }, stdio: ["ignore", "pipe", "pipe"],
  });
}

async function waitForLine(child: ChildProcess, re: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
  let text = "";
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${re}; output:\n${text}`)), timeoutMs);
    const on = (d: Buffer) => {
      text += d.toString();
      const m = re.exec(text);
      if (m) {
        clearTimeout(t);
        resolve(m);
      }
    };
    child.stdout!.on("data", on);
    child.stderr!.on("data", on);
    child.on("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`exited with ${code} before ${re}; output:\n${text}`));
    });
  });
}

test("MAC matches forgejo-runner's published vectors", () => {
  const secret = "this is my cool secret string :3";
  assert.equal(computeMac(secret, "org/reponame", "42", "1337", ""), "4754474b21329e8beadd2b4054aa4be803965d66e710fa1fee091334ed804f29");
  assert.equal(computeMac(secret, "org/reponame", "42", "1337", "refs/pull/12/head"), "9ca8f4cb5e1b083ee8cd215215bc00f379b28511d3ef7930bf054767de34766d");
  const now = 1_700_000_000_000;
  const ts = String(now / 1000 - 30);
  const f = { repo: "o/r", runNumber: "1", timestamp: ts, isolationKey: "", mac: computeMac("s", "o/r", "1", ts, "") };
  assert.deepEqual(verifyMac("s", f, 60_000, now), { ok: true });
  assert.equal(verifyMac("s", f, 10_000, now).ok, false);
  assert.deepEqual(verifyMac("s", f, 0, now), { ok: true });
  assert.equal(verifyMac("s", { ...f, isolationKey: "refs/pull/1/head" }, 0, now).ok, false);
  assert.equal(verifyMac("other", f, 0, now).ok, false);
});

test("cache-server refuses to start without a secret", async () => {
  const child = cli(["cache-server", "--dir", join(base, "nosecret"), "--port", "0"]);
  let out = "";
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  assert.notEqual(code, 0);
  assert.match(out, /secret/);
});

test("cache-server logs in the daemon's format (JSON lines off a terminal, tagged component cache)", async () => {
  const child = cli(["cache-server", "--dir", join(base, "logfmt"), "--host", "127.0.0.1", "--port", "0"], { NATIVE_RUNNER_CACHE_SECRET: "s" });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  try {
    await waitForLine(child, /listening on http:\/\/127\.0\.0\.1:\d+/);
    child.kill("SIGTERM");
    const [code] = (await once(child, "exit")) as [number | null];
    assert.equal(code, 0);
    const lines = err.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(lines.length >= 2, err);
    for (const l of lines) {
      assert.equal(l.name, "native-runner");
      assert.equal(l.component, "cache");
      assert.equal(typeof l.time, "number");
      assert.equal(typeof l.level, "number");
    }
    assert.match(String(lines[0]!.msg), /^cache server is listening on http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(lines.at(-1)!.msg, "SIGTERM: stopping the cache server");
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
});

test("cache-server never takes its secret from the command line", async () => {
  const secret = "argv-secret-" + Math.random().toString(36).slice(2);
  // --secret is refused before anything starts, naming the alternatives.
  const refused = cli(["cache-server", "--dir", join(base, "argv"), "--port", "0", "--secret", secret]);
  let out = "";
  refused.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  refused.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  const [code] = (await once(refused, "exit")) as [number | null];
  assert.notEqual(code, 0);
  assert.match(out, /--secret is refused/);
  assert.match(out, /--secret-file/);
  assert.match(out, /NATIVE_RUNNER_CACHE_SECRET/);
  assert.doesNotMatch(out, /listening on/);
  // From the environment: running, and the secret is in neither its command line nor (once read) its environment.
  const child = cli(["cache-server", "--dir", join(base, "envsecret"), "--port", "0"], { NATIVE_RUNNER_CACHE_SECRET: secret });
  try {
    const m = await waitForLine(child, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
    const cmdline = await readFile(`/proc/${child.pid}/cmdline`, "utf8");
    assert.ok(cmdline.includes("cache-server"), cmdline);
    assert.ok(!cmdline.includes(secret), cmdline);
    // The server really uses that secret: a MAC made with it passes the check, another one does not.
    const ts = String(Math.floor(Date.now() / 1000));
    const headers = (key: string) => ({
      "Forgejo-Cache-Repo": "o/r", "Forgejo-Cache-RunNumber": "1", "Forgejo-Cache-Timestamp": ts, "Forgejo-Cache-RunId": "1",
      "Forgejo-Cache-WriteIsolationKey": "", "Forgejo-Cache-MAC": computeMac(key, "o/r", "1", ts, ""),
    });
    const ok = await raw(`${m[1]}/_apis/artifactcache/cache?keys=k&version=v`, "GET", headers(secret));
    const bad = await raw(`${m[1]}/_apis/artifactcache/cache?keys=k&version=v`, "GET", headers("wrong"));
    assert.equal(bad.status, 403);
    assert.notEqual(ok.status, bad.status, `right MAC ${ok.status}, wrong MAC ${bad.status}`);
  } finally {
    child.kill("SIGTERM");
    await once(child, "exit");
  }
});

test("proxy + separate cache-server process sharing a secret; SIGTERM stops it", async () => {
  const dir = join(base, "external");
  await writeFile(join(base, "shared-secret"), "shared-secret\n", { mode: 0o600 });
  const child = cli(["cache-server", "--dir", dir, "--host", "127.0.0.1", "--port", "0", "--secret-file", join(base, "shared-secret")]);
  try {
    const m = await waitForLine(child, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
    const serverUrl = m[1]!;
    const svc = await startCacheService({
      dir: join(base, "unused"), host: "127.0.0.1", port: 0, proxyPort: 0, secret: "shared-secret",
      maxSize: 1 << 30, macMaxAge: 60_000, externalServer: serverUrl,
    });
    try {
      assert.equal(svc.store, undefined);
      const h = svc.registerJob({ repository: "owner/ext", runtimeToken: "tok", eventName: "push", event: {}, ref: "refs/heads/main", runId: 5 });
      const ws = await tempDir("nr-cache-ws-");
      await mkdir(join(ws, ".tmp"));
      const digest = await makeTree(join(ws, "data"), 12, 20_000, "ext");
      const env = clientEnv(h.env, "tok", ws, join(ws, ".tmp"));
      const s = await runClient(env, ws, ["save", "ext-key", "data"]);
      assert.equal(s.ok, true, s.output);
      assert.ok((s.cacheId ?? 0) > 0, s.output);
      await rm(join(ws, "data"), { recursive: true });
      const r = await runClient(env, ws, ["restore", "ext-key-2", "ext-", "data"]);
      assert.equal(r.hit, "ext-key", r.output);
      assert.equal(await treeDigest(join(ws, "data")), digest);
      // The archive location points at the proxy, not the server.
      const version = createHash("sha256").update(["data", "zstd-without-long", "1.0"].join("|")).digest("hex");
      const found = await raw(`${h.env.ACTIONS_CACHE_URL}_apis/artifactcache/cache?keys=ext-key&version=${version}`, "GET", { Authorization: "Bearer tok" });
      assert.equal(found.status, 200);
      assert.equal(found.json().archiveLocation, `${h.env.ACTIONS_CACHE_URL}_apis/artifactcache/artifacts/${s.cacheId}`);
      // Range and HEAD pass through the proxy.
      const part = await raw(found.json().archiveLocation as string, "GET", { Range: "bytes=0-9" });
      assert.equal(part.status, 206);
      assert.equal(part.body.length, 10);
      assert.match(String(part.headers["content-range"]), /^bytes 0-9\/\d+$/);
      const head = await raw(found.json().archiveLocation as string, "HEAD");
      assert.equal(head.status, 200);
      assert.ok(Number(head.headers["content-length"]) > 10);
      // A wrong secret on the proxy side is refused by the server.
      const bad = await startCacheService({
        dir: join(base, "unused2"), host: "127.0.0.1", port: 0, proxyPort: 0, secret: "wrong-secret",
        maxSize: 1 << 30, macMaxAge: 60_000, externalServer: serverUrl,
      });
      const hb = bad.registerJob({ repository: "owner/ext", runtimeToken: "t", eventName: "push", event: {}, ref: "refs/heads/main" });
      const refused = await raw(`${hb.env.ACTIONS_CACHE_URL}_apis/artifactcache/cache?keys=ext-key&version=v`, "GET", { Authorization: "Bearer t" });
      assert.equal(refused.status, 403);
      assert.match(String(refused.json().error), /validation/);
      await bad.close();
      h.release();
      await rm(ws, { recursive: true, force: true });
    } finally {
      await svc.close();
    }
    child.kill("SIGTERM");
    const [code] = (await once(child, "exit")) as [number | null];
    assert.equal(code, 0);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
});

test("the server checks MAC, its age and the isolation key it signs", async () => {
  const server = await startCacheServer({ dir: join(base, "mac"), host: "127.0.0.1", port: 0, secret: "sec", maxSize: 1 << 20, macMaxAge: 60_000 });
  try {
    const url = `${server.url}/_apis/artifactcache/cache?keys=a&version=v`;
    const headers = (ts: number, opts: { secret?: string; iso?: string; signedIso?: string } = {}) => {
      const t = String(ts);
      const h: Record<string, string> = {
        "Forgejo-Cache-Repo": "o/r", "Forgejo-Cache-RunNumber": "3", "Forgejo-Cache-RunId": "abc",
        "Forgejo-Cache-Timestamp": t, "Forgejo-Cache-Host": "http://127.0.0.1:1",
        "Forgejo-Cache-MAC": computeMac(opts.secret ?? "sec", "o/r", "3", t, opts.signedIso ?? opts.iso ?? ""),
      };
      if (opts.iso) h["Forgejo-Cache-WriteIsolationKey"] = opts.iso;
      return h;
    };
    const now = Math.floor(Date.now() / 1000);
    assert.equal((await raw(url, "GET", headers(now))).status, 204);
    assert.equal((await raw(url, "GET", headers(now, { iso: "refs/pull/1/head" }))).status, 204);
    for (const [name, h] of [
      ["expired", headers(now - 120)],
      ["future", headers(now + 3600)],
      ["wrong secret", headers(now, { secret: "nope" })],
      ["isolation key not signed", headers(now, { iso: "refs/pull/1/head", signedIso: "" })],
      ["no headers", {}],
    ] as const) {
      const r = await raw(url, "GET", h);
      assert.equal(r.status, 403, name);
      assert.equal(typeof r.json().error, "string", name);
    }
    const reserve = await raw(`${server.url}/_apis/artifactcache/caches`, "POST", { ...headers(now - 120), "Content-Type": "application/json" }, JSON.stringify({ key: "k", version: "v", cacheSize: 1 }));
    assert.equal(reserve.status, 403);
    assert.equal(server.store.stats().uploads, 0);
  } finally {
    await server.close();
  }
});

test("cache.port > 0 also serves the internal store to other runners' proxies", async () => {
  const probe = await startCacheServer({ dir: join(base, "probe"), host: "127.0.0.1", port: 0, secret: "p", maxSize: 1 << 20, macMaxAge: 0 });
  const port = probe.port;
  await probe.close();
  const svc = await startCacheService({
    dir: join(base, "dual"), host: "127.0.0.1", port, proxyPort: 0, secret: "dual-secret", maxSize: 1 << 20, macMaxAge: 60_000,
  });
  try {
    assert.equal(svc.serverUrl, `http://127.0.0.1:${port}`);
    // An entry saved through the proxy ...
    const h = svc.registerJob({ repository: "o/dual", runtimeToken: "t", eventName: "push", event: {}, ref: "refs/heads/main", runId: 1 });
    const api = `${h.env.ACTIONS_CACHE_URL}_apis/artifactcache`;
    const id = (await raw(`${api}/caches`, "POST", { Authorization: "Bearer t" }, JSON.stringify({ key: "k", version: "v", cacheSize: 5 }))).json().cacheId as number;
    assert.equal((await raw(`${api}/caches/${id}`, "PATCH", { Authorization: "Bearer t", "Content-Range": "bytes 0-4/*" }, "hello")).status, 200);
    assert.equal((await raw(`${api}/caches/${id}`, "POST", { Authorization: "Bearer t" }, "{}")).status, 200);
    // ... is found by a signed request straight to the server port, with archive URLs on the caller's proxy.
    const ts = String(Math.floor(Date.now() / 1000));
    const signed = {
      "Forgejo-Cache-Repo": "o/dual", "Forgejo-Cache-RunNumber": "9", "Forgejo-Cache-RunId": "deadbeef",
      "Forgejo-Cache-Timestamp": ts, "Forgejo-Cache-MAC": computeMac("dual-secret", "o/dual", "9", ts, ""),
      "Forgejo-Cache-Host": "http://other-proxy:1234",
    };
    const found = await raw(`${svc.serverUrl}/_apis/artifactcache/cache?keys=k&version=v`, "GET", signed);
    assert.equal(found.status, 200);
    assert.equal(found.json().archiveLocation, `http://other-proxy:1234/deadbeef/_apis/artifactcache/artifacts/${id}`);
    const part = await raw(`${svc.serverUrl}/_apis/artifactcache/artifacts/${id}`, "GET", { ...signed, Range: "bytes=1-3" });
    assert.equal(part.status, 206);
    assert.equal(part.body.toString(), "ell");
    h.release();
  } finally {
    await svc.close();
  }
});
