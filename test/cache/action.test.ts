// The test JS action (node20 + @actions/cache), run the way a job step runs
// it: a separate node process with the environment the job gets.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { startCacheService, type CacheService } from "../../src/cache/index.js";
import { ROOT, tempDir, makeTree, treeDigest } from "./helpers.js";

const ACTION = join(ROOT, "test/cache/fixtures/cache-action");
let svc: CacheService;
let base: string;
let actionDir: string;

before(async () => {
  base = await tempDir();
  svc = await startCacheService({ dir: join(base, "cache"), host: "127.0.0.1", port: 0, proxyPort: 0, secret: "s", maxSize: 1 << 30, macMaxAge: 60_000 });
  // Copied outside the project so that @actions/cache comes from NODE_PATH, as for a downloaded action.
  actionDir = join(base, "actions", "cache-action");
  await cp(ACTION, actionDir, { recursive: true });
});
after(async () => {
  await svc.close();
  await rm(base, { recursive: true, force: true });
});

async function runAction(jobEnv: Record<string, string>, token: string, workspace: string, inputs: Record<string, string>): Promise<{ code: number | null; outputs: Record<string, string>; log: string }> {
  const meta = parse(await readFile(join(actionDir, "action.yml"), "utf8")) as { runs: { using: string; main: string } };
  assert.equal(meta.runs.using, "node20");
  const temp = join(workspace, "..", `temp-${Math.random().toString(36).slice(2)}`);
  await mkdir(temp, { recursive: true });
  const outFile = join(temp, "output.txt");
  await writeFile(outFile, "");
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: temp,
    NODE_PATH: join(ROOT, "node_modules"),
    GITHUB_ACTIONS: "true",
    FORGEJO_ACTIONS: "true",
    GITHUB_SERVER_URL: "http://127.0.0.1:3000",
    GITHUB_WORKSPACE: workspace,
    GITHUB_OUTPUT: outFile,
    RUNNER_TEMP: temp,
    ACTIONS_RUNTIME_TOKEN: token,
    ...jobEnv,
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(actionDir, meta.runs.main)], { cwd: workspace, env, stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    child.stdout.on("data", (d: Buffer) => (log += d.toString()));
    child.stderr.on("data", (d: Buffer) => (log += d.toString()));
    child.on("error", reject);
    child.on("close", async (code) => {
      const outputs: Record<string, string> = {};
      for (const line of (await readFile(outFile, "utf8")).split("\n")) {
        const i = line.indexOf("=");
        if (i > 0) outputs[line.slice(0, i)] = line.slice(i + 1);
      }
      resolve({ code, outputs, log });
    });
  });
}

test("the cache action saves in one job and restores in the next", async () => {
  const first = svc.registerJob({ repository: "owner/action", runtimeToken: "tok1", eventName: "push", event: {}, ref: "refs/heads/main", runId: 1 });
  const ws1 = join(base, "ws1");
  const digest = await makeTree(join(ws1, "deps"), 15, 10_000, "action");
  const saved = await runAction(first.env, "tok1", ws1, { mode: "save", path: "deps", key: "deps-linux-1" });
  assert.equal(saved.code, 0, saved.log);
  assert.ok(Number(saved.outputs["cache-id"]) > 0, saved.log);
  first.release();

  const second = svc.registerJob({ repository: "owner/action", runtimeToken: "tok2", eventName: "push", event: {}, ref: "refs/heads/main", runId: 2 });
  const ws2 = join(base, "ws2");
  await mkdir(ws2, { recursive: true });
  const restored = await runAction(second.env, "tok2", ws2, { mode: "restore", path: "deps", key: "deps-linux-2", "restore-keys": "deps-linux-" });
  assert.equal(restored.code, 0, restored.log);
  assert.equal(restored.outputs["cache-hit"], "deps-linux-1", restored.log);
  assert.equal(await treeDigest(join(ws2, "deps")), digest);
  second.release();

  // With the first job's URL, now released, the action gets nothing.
  const ws3 = join(base, "ws3");
  await mkdir(ws3, { recursive: true });
  const stale = await runAction(first.env, "tok1", ws3, { mode: "restore", path: "deps", key: "deps-linux-1" });
  assert.equal(stale.code, 0, stale.log);
  assert.equal(stale.outputs["cache-hit"], "", stale.log);
});
