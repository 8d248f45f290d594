// Time to prepare a remote action: first fetch (cold cache) against cached
// uses (tag re-resolved with ls-remote, full SHA, offline). Prints figures.
//   node --import tsx bench/action-fetch.ts [files=300] [rounds=20]
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { prepareAction, type PrepareActionOptions } from "../src/actions/index.js";
import { makeRepo, startGitHttpServer } from "../test/helpers/git-http-server.js";

const fileCount = Number(process.argv[2] ?? 300);
const rounds = Number(process.argv[3] ?? 20);

const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "bench-action-fetch-"));
try {
  const files: Record<string, string> = { "action.yml": "name: bench\nruns:\n  using: node20\n  main: dist/index.js\n" };
  for (let i = 0; i < fileCount; i++) files[`dist/chunk-${i}.js`] = `export const v${i} = ${JSON.stringify("x".repeat(2000 + i))};\n`;
  const { commit } = await makeRepo(path.join(tmp, "repos"), "bench/action", files, { tags: ["v1"] });
  const server = await startGitHttpServer({ root: path.join(tmp, "repos") });
  const opts = (cacheDir: string, offline = false): PrepareActionOptions => ({
    workspace: tmp,
    cacheDir,
    offline,
    defaultActionsUrl: server.url,
  });
  const time = async (fn: () => Promise<unknown>) => {
    const t = performance.now();
    await fn();
    return performance.now() - t;
  };
  const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return `median ${s[Math.floor(s.length / 2)]!.toFixed(1)} ms, min ${s[0]!.toFixed(1)} ms, max ${s[s.length - 1]!.toFixed(1)} ms`;
  };

  const cold: number[] = [];
  for (let i = 0; i < Math.max(3, Math.floor(rounds / 4)); i++) {
    cold.push(await time(() => prepareAction("bench/action@v1", opts(path.join(tmp, `cold-${i}`)))));
  }
  const warmDir = path.join(tmp, "warm");
  await prepareAction("bench/action@v1", opts(warmDir));
  const byTag: number[] = [];
  const bySha: number[] = [];
  const offline: number[] = [];
  for (let i = 0; i < rounds; i++) {
    byTag.push(await time(() => prepareAction("bench/action@v1", opts(warmDir))));
    bySha.push(await time(() => prepareAction(`bench/action@${commit}`, opts(warmDir))));
    offline.push(await time(() => prepareAction("bench/action@v1", opts(warmDir, true))));
  }
  await server.close();

  console.log(`action with ${fileCount + 1} files (~${Math.round((fileCount * 2000) / 1024)} KiB), git http-backend on 127.0.0.1, ${rounds} rounds`);
  console.log(`first fetch (ls-remote + shallow fetch + checkout): ${stats(cold)}`);
  console.log(`cached, tag (ls-remote only):                       ${stats(byTag)}`);
  console.log(`cached, full SHA (no network):                      ${stats(bySha)}`);
  console.log(`cached, offline:                                     ${stats(offline)}`);
} finally {
  await fs.rm(tmp, { recursive: true, force: true });
}
