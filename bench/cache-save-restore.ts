// Save + restore of a directory through @actions/cache and native-runner's
// cache service, against `cp -r` and raw tar+zstd of the same tree, in the
// same run, interleaved over several rounds (medians are printed). Also
// prints the service's RSS.
//   node --import tsx bench/cache-save-restore.ts [size, default 1GiB] [rounds, default 3]
// With FORGEJO_CACHEPAIR (a harness built outside this repository from forgejo-runner's source) the same client
// also runs against forgejo-runner's Go server + proxy, for reference.
import { mkdir, rm, mkdtemp, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, clientEnv, makeTree, mib, parseSizeArg, run, secs, startGoPair, startServiceProcess } from "./cache-util.js";

const size = parseSizeArg(process.argv[2] ?? process.env.BENCH_SIZE, 1024 ** 3);
const rounds = Number(process.argv[3] ?? 3);
const base = await mkdtemp(join(tmpdir(), "nr-bench-"));
const CLIENT = join(ROOT, "test/cache/fixtures/cache-client.mjs");

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const m: Record<string, number[]> = { cp: [], tarC: [], tarX: [], save: [], restore: [], miss: [], cpuSave: [], cpuRestore: [], goSave: [], goRestore: [] };
const goBin = process.env.FORGEJO_CACHEPAIR;
let archive = 0;
let idleRss = 0;
let savePeak = 0;
let restorePeak = 0;

try {
  const ws = join(base, "ws");
  await mkdir(ws, { recursive: true });
  const files = await makeTree(join(ws, "tree"), size);
  console.log(`tree: ${mib(size)} in ${files} files (half random, half text); ${rounds} rounds`);
  await run("sync", []);
  const svc = await startServiceProcess(join(base, "store"));
  const go = goBin ? await startGoPair(goBin, join(base, "go-store")) : undefined;
  idleRss = svc.rssNow();
  try {
    for (let r = 0; r < rounds; r++) {
      m.cp!.push((await run("cp", ["-r", join(ws, "tree"), join(base, "cp-copy")])).ms);
      await rm(join(base, "cp-copy"), { recursive: true });

      // raw tar + zstd with the flags @actions/cache uses
      const rawDir = join(base, "raw");
      await mkdir(join(rawDir, "out"), { recursive: true });
      m.tarC!.push((await run("tar", ["--posix", "-cf", join(rawDir, "cache.tzst"), "-P", "-C", ws, "--use-compress-program", "zstdmt", "tree"])).ms);
      m.tarX!.push((await run("tar", ["-xf", join(rawDir, "cache.tzst"), "-P", "-C", join(rawDir, "out"), "--use-compress-program", "unzstd"])).ms);
      archive = (await stat(join(rawDir, "cache.tzst"))).size;
      await rm(rawDir, { recursive: true });

      // @actions/cache through the proxy and store (service in its own process)
      const temp = join(base, "temp");
      await mkdir(temp, { recursive: true });
      const key = `bench-key-${r}`;
      svc.resetPeak();
      let cpu0 = svc.cpuSeconds();
      const save = await run(process.execPath, [CLIENT, "save", key, "tree"], { cwd: ws, env: clientEnv(svc, ws, temp) });
      if (!/RESULT \{"ok":true,"cacheId":[1-9]/.test(save.out)) throw new Error(`save failed:\n${save.out.slice(-2000)}`);
      savePeak = Math.max(savePeak, svc.peakRss());
      m.save!.push(save.ms);
      m.cpuSave!.push(svc.cpuSeconds() - cpu0);
      const ws2 = join(base, "ws2");
      await mkdir(ws2, { recursive: true });
      svc.resetPeak();
      cpu0 = svc.cpuSeconds();
      const restore = await run(process.execPath, [CLIENT, "restore", key, "-", "tree"], { cwd: ws2, env: clientEnv(svc, ws2, temp) });
      if (!restore.out.includes(`"hit":"${key}"`)) throw new Error(`restore failed:\n${restore.out.slice(-2000)}`);
      restorePeak = Math.max(restorePeak, svc.peakRss());
      m.restore!.push(restore.ms);
      m.cpuRestore!.push(svc.cpuSeconds() - cpu0);
      await rm(ws2, { recursive: true });
      // The client library's fixed cost: node start, loading @actions/cache (≈900 modules), one lookup.
      m.miss!.push((await run(process.execPath, [CLIENT, "restore", "no-such-key", "-", "tree"], { cwd: ws, env: clientEnv(svc, ws, temp) })).ms);
      if (go) {
        const env = { ...clientEnv(svc, ws, temp), ...go.env };
        const gs = await run(process.execPath, [CLIENT, "save", key, "tree"], { cwd: ws, env });
        if (!/RESULT \{"ok":true,"cacheId":[1-9]/.test(gs.out)) throw new Error(`go save failed:\n${gs.out.slice(-2000)}`);
        m.goSave!.push(gs.ms);
        await mkdir(ws2, { recursive: true });
        const gr = await run(process.execPath, [CLIENT, "restore", key, "-", "tree"], { cwd: ws2, env: { ...env, GITHUB_WORKSPACE: ws2 } });
        if (!gr.out.includes(`"hit":"${key}"`)) throw new Error(`go restore failed:\n${gr.out.slice(-2000)}`);
        m.goRestore!.push(gr.ms);
        await rm(ws2, { recursive: true });
      }
    }
  } finally {
    await svc.stop();
    await go?.stop();
  }

  const [cp, tarC, tarX, save, restore, miss] = ["cp", "tarC", "tarX", "save", "restore", "miss"].map((k) => median(m[k]!)) as [number, number, number, number, number, number];
  const tarTotal = tarC + tarX;
  const cacheTotal = save + restore;
  const net = cacheTotal - 2 * miss;
  console.log(`archive (tar+zstd): ${mib(archive)}`);
  console.log(`cp -r:                  ${secs(cp)}`);
  console.log(`tar+zstd create:        ${secs(tarC)}   extract: ${secs(tarX)}   total: ${secs(tarTotal)}`);
  console.log(`@actions/cache save:    ${secs(save)}   restore: ${secs(restore)}   total: ${secs(cacheTotal)}`);
  console.log(`overhead over tar+zstd: ${((cacheTotal / tarTotal - 1) * 100).toFixed(1)} % (goal ≤ 30 %)`);
  if (m.goSave!.length > 0) {
    const gs = median(m.goSave!);
    const gr = median(m.goRestore!);
    console.log(`forgejo-runner (Go) server + proxy, same client: save ${secs(gs)}   restore: ${secs(gr)}   total: ${secs(gs + gr)}   (${((gs + gr) / tarTotal * 100 - 100).toFixed(1)} % over tar+zstd)`);
  }
  console.log(`client start-up (a miss: node + loading @actions/cache + one lookup): ${secs(miss)}`);
  console.log(`overhead without the client's start-up (2 × ${secs(miss)}): ${((net / tarTotal - 1) * 100).toFixed(1)} %`);
  console.log(`upload + download through the service: ${secs(net - tarTotal)} for 2 × ${mib(archive)}`);
  console.log(`service CPU: ${median(m.cpuSave!).toFixed(2)} s during a save, ${median(m.cpuRestore!).toFixed(2)} s during a restore`);
  console.log(`service RSS: idle ${mib(idleRss)}, peak during saves ${mib(savePeak)}, peak during restores ${mib(restorePeak)}`);
} finally {
  await rm(base, { recursive: true, force: true });
}
