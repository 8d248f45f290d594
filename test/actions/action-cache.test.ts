import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { prepareAction, pruneActionCache, type PrepareActionOptions } from "../../src/actions/index.js";
import { makeRepo, startGitHttpServer, type GitHttpServer } from "../helpers/git-http-server.js";

const WORKER = fileURLToPath(new URL("./fixtures/prepare-worker.ts", import.meta.url));
const BIG = 200_000;

let tmp: string;
let server: GitHttpServer;
const bigFile = (c: string) => c.repeat(BIG);

function options(cacheDir: string, extra: Partial<PrepareActionOptions> = {}): PrepareActionOptions {
  return { workspace: tmp, cacheDir, offline: false, defaultActionsUrl: server.url, ...extra };
}

/** Starts a worker process; resolves `ready` once it waits for the go-file, `done` with its results. */
function startWorker(uses: string, opts: PrepareActionOptions, count: number, goFile: string) {
  const child = spawn(process.execPath, ["--import", "tsx", WORKER, uses, JSON.stringify(opts), String(count), goFile], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  let markReady: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  child.stdout.on("data", (b: Buffer) => {
    out += b.toString();
    if (out.startsWith("ready\n")) markReady();
  });
  child.stderr.on("data", (b: Buffer) => (err += b.toString()));
  const done = new Promise<{ dir: string; commit: string }[]>((resolve, reject) => {
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`worker exited ${code}: ${err}`));
      else resolve(out.split("\n").slice(1).filter(Boolean).map((l) => JSON.parse(l) as { dir: string; commit: string }));
    });
  });
  return { ready, done };
}

async function entryNames(cacheDir: string): Promise<string[]> {
  return (await fs.readdir(path.join(cacheDir, "entries"))).filter((n) => !n.endsWith(".json")).sort();
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), "actions-cache-"));
  const repos = path.join(tmp, "repos");
  await makeRepo(repos, "acme/shared", { "action.yml": "name: shared\nruns:\n  using: node20\n  main: big.js\n", "big.js": bigFile("s") }, { tags: ["v1"] });
  for (const name of ["a", "b", "c", "d"]) {
    await makeRepo(repos, `acme/${name}`, { "action.yml": `name: ${name}\nruns:\n  using: node20\n  main: big.js\n`, "big.js": bigFile(name) }, { tags: ["v1"] });
  }
  server = await startGitHttpServer({ root: repos });
});
after(async () => {
  await server.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

describe("action cache", () => {
  it("shares one fetch between concurrent promises", async () => {
    const cacheDir = path.join(tmp, "cache-promises");
    const lines: string[] = [];
    const results = await Promise.all(
      Array.from({ length: 8 }, () => prepareAction("acme/shared@v1", options(cacheDir, { log: (l) => lines.push(l) }))),
    );
    assert.equal(new Set(results.map((r) => r.dir)).size, 1);
    assert.equal(lines.filter((l) => l.startsWith("Fetching")).length, 1, lines.join("\n"));
    assert.equal((await entryNames(cacheDir)).length, 1);
    assert.equal(await fs.readFile(path.join(results[0]!.dir, "big.js"), "utf8"), bigFile("s"));
    await Promise.all(results.map((r) => r.release()));
  });

  it("keeps one consistent entry when several processes fetch at once", async () => {
    const cacheDir = path.join(tmp, "cache-processes");
    const goFile = path.join(tmp, "go");
    const workers = Array.from({ length: 4 }, () => startWorker("acme/shared@v1", options(cacheDir), 3, goFile));
    await Promise.all(workers.map((w) => w.ready));
    await fs.writeFile(goFile, "");
    const results = (await Promise.all(workers.map((w) => w.done))).flat();
    assert.equal(results.length, 12);
    assert.equal(new Set(results.map((r) => r.dir)).size, 1, "every process got the same entry");
    assert.equal(new Set(results.map((r) => r.commit)).size, 1);
    assert.deepEqual(await entryNames(cacheDir), [path.basename(results[0]!.dir)]);
    const dir = results[0]!.dir;
    assert.deepEqual((await fs.readdir(dir)).sort(), ["action.yml", "big.js"]);
    assert.equal(await fs.readFile(path.join(dir, "big.js"), "utf8"), bigFile("s"));
    assert.deepEqual(await fs.readdir(path.join(cacheDir, "tmp")), [], "no partial fetch left behind");
    await assert.rejects(fs.stat(path.join(cacheDir, "lock")), "lock released");
    // A later use in this process finds it.
    const again = await prepareAction("acme/shared@v1", options(cacheDir, { offline: true }));
    assert.equal(again.dir, dir);
  });

  it("evicts least recently used entries beyond maxCacheBytes, never one in use", async () => {
    const cacheDir = path.join(tmp, "cache-evict");
    const max = BIG * 2 + BIG / 2; // room for two entries
    const a = await prepareAction("acme/a@v1", options(cacheDir, { maxCacheBytes: max })); // held: in use
    const b = await prepareAction("acme/b@v1", options(cacheDir, { maxCacheBytes: max }));
    await b.release();
    const c = await prepareAction("acme/c@v1", options(cacheDir, { maxCacheBytes: max }));
    await c.release();
    let names = await entryNames(cacheDir);
    assert.ok(names.includes(path.basename(a.dir)), "the oldest entry stays while in use");
    assert.ok(!names.includes(path.basename(b.dir)), "the least recently used free entry went");
    assert.ok(names.includes(path.basename(c.dir)));
    assert.equal(await fs.readFile(path.join(a.dir, "big.js"), "utf8"), bigFile("a"));

    await a.release();
    const d = await prepareAction("acme/d@v1", options(cacheDir, { maxCacheBytes: max }));
    names = await entryNames(cacheDir);
    assert.deepEqual(names.sort(), [path.basename(c.dir), path.basename(d.dir)].sort());
    await assert.rejects(fs.stat(`${a.dir}.json`), "metadata of an evicted entry goes too");

    // Using an entry makes it recent: c survives the next eviction, d does not.
    await d.release();
    await prepareAction("acme/c@v1", options(cacheDir));
    const again = await prepareAction("acme/a@v1", options(cacheDir, { maxCacheBytes: max }));
    names = await entryNames(cacheDir);
    assert.deepEqual(names.sort(), [path.basename(c.dir), path.basename(again.dir)].sort());
  });

  it("ignores leases of processes that have exited", async () => {
    const cacheDir = path.join(tmp, "cache-dead");
    const w = startWorker("acme/a@v1", options(cacheDir), 1, "");
    const [fromDead] = await w.done; // exits without releasing
    assert.equal((await fs.readdir(path.join(cacheDir, "leases"))).length, 1);
    const b = await prepareAction("acme/b@v1", options(cacheDir, { maxCacheBytes: BIG + BIG / 2 }));
    const names = await entryNames(cacheDir);
    assert.deepEqual(names, [path.basename(b.dir)]);
    assert.ok(!names.includes(path.basename(fromDead!.dir)));
    await b.release();
    assert.deepEqual(await fs.readdir(path.join(cacheDir, "leases")), []);
  });

  it("prunes on demand, keeping entries in use", async () => {
    const cacheDir = path.join(tmp, "cache-prune");
    const a = await prepareAction("acme/a@v1", options(cacheDir));
    const b = await prepareAction("acme/b@v1", options(cacheDir));
    await b.release();
    assert.equal(await pruneActionCache(cacheDir, 0), 1);
    assert.deepEqual(await entryNames(cacheDir), [path.basename(a.dir)]);
    await a.release();
    assert.equal(await pruneActionCache(cacheDir, 0), 1);
    assert.deepEqual(await entryNames(cacheDir), []);
    await assert.rejects(prepareAction("acme/a@v1", options(cacheDir, { offline: true })), /not in the action cache/);
  });
});
