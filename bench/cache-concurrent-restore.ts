// N concurrent restores of one entry (default 16 × 256 MiB): aggregate
// download throughput from the cache service, and the service's RSS.
// Downloads are streamed and discarded by this process, so the figure is the
// service's serving rate. With --client, each restore is instead a full
// @actions/cache restoreCache (download + extract) in its own process.
//   node --import tsx bench/cache-concurrent-restore.ts [size=256MiB] [n=16] [--client]
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { ROOT, clientEnv, mib, parseSizeArg, run, secs, startServiceProcess } from "./cache-util.js";

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const fullClient = process.argv.includes("--client");
const size = parseSizeArg(args[0], 256 * 1024 ** 2);
const n = Number(args[1] ?? 16);
const base = await mkdtemp(join(tmpdir(), "nr-bench-conc-"));

function call(url: string, method: string, headers: Record<string, string | number>, body?: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

function download(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let got = 0;
      res.on("data", (d: Buffer) => (got += d.length));
      res.on("end", () => resolve(got));
      res.on("error", reject);
    }).on("error", reject).end();
  });
}

const svc = await startServiceProcess(join(base, "store"));
try {
  const api = `${svc.env.ACTIONS_CACHE_URL}_apis/artifactcache`;
  const auth = { Authorization: `Bearer ${svc.token}` };
  const idle = svc.rssNow();
  let archiveLocation: string;
  let key = "conc-key";
  if (fullClient) {
    // A real archive made by @actions/cache, so that extraction works.
    const ws = join(base, "ws");
    await mkdir(join(ws, "tree"), { recursive: true });
    for (let off = 0, i = 0; off < size; off += 8 << 20, i++) await writeFile(join(ws, "tree", `f${i}`), randomBytes(Math.min(8 << 20, size - off)));
    await mkdir(join(base, "t"));
    const s = await run(process.execPath, [join(ROOT, "test/cache/fixtures/cache-client.mjs"), "save", key, "tree"], { cwd: ws, env: clientEnv(svc, ws, join(base, "t")) });
    if (!s.out.includes('"ok":true')) throw new Error(s.out);
    archiveLocation = "";
  } else {
    const data = randomBytes(size);
    const r = await call(`${api}/caches`, "POST", { ...auth, "Content-Type": "application/json" }, Buffer.from(JSON.stringify({ key, version: "v", cacheSize: size })));
    const id = (JSON.parse(r.text) as { cacheId: number }).cacheId;
    const chunk = 32 << 20;
    const parts: Promise<unknown>[] = [];
    for (let s = 0; s < size; s += chunk) {
      const e = Math.min(size, s + chunk) - 1;
      parts.push(call(`${api}/caches/${id}`, "PATCH", { ...auth, "Content-Range": `bytes ${s}-${e}/*` }, data.subarray(s, e + 1)));
    }
    await Promise.all(parts);
    const c = await call(`${api}/caches/${id}`, "POST", { ...auth, "Content-Type": "application/json" }, Buffer.from(JSON.stringify({ size })));
    if (c.status !== 200) throw new Error(c.text);
    const f = await call(`${api}/cache?keys=${key}&version=v`, "GET", auth);
    archiveLocation = (JSON.parse(f.text) as { archiveLocation: string }).archiveLocation;
  }
  svc.resetPeak();
  const t0 = performance.now();
  let bytes = 0;
  if (fullClient) {
    await Promise.all(Array.from({ length: n }, async (_, i) => {
      const ws = join(base, `r${i}`);
      const temp = join(base, `rt${i}`);
      await mkdir(ws);
      await mkdir(temp);
      const r = await run(process.execPath, [join(ROOT, "test/cache/fixtures/cache-client.mjs"), "restore", key, "-", "tree"], { cwd: ws, env: clientEnv(svc, ws, temp) });
      if (!r.out.includes(`"hit":"${key}"`)) throw new Error(r.out);
      bytes += size;
    }));
  } else {
    const got = await Promise.all(Array.from({ length: n }, () => download(archiveLocation)));
    for (const g of got) {
      if (g !== size) throw new Error(`short download: ${g} of ${size}`);
      bytes += g;
    }
  }
  const ms = performance.now() - t0;
  console.log(`${n} concurrent ${fullClient ? "@actions/cache restores (download + extract)" : "downloads"} of one ${mib(size)} entry`);
  console.log(`wall time: ${secs(ms)}; aggregate: ${mib(bytes / (ms / 1000))}/s`);
  console.log(`service RSS: idle ${mib(idle)}, peak during restores ${mib(svc.peakRss())}`);
} finally {
  await svc.stop();
  await rm(base, { recursive: true, force: true });
}
