// The built CLI's engine script and its code cache (scripts/bundle.mjs, src/cli/bundle-loader.ts): the build's
// warm-up writes a cache that V8 accepts for the script; exec and the job worker run from it; a cache that does
// not fit (another build's, or damaged) only costs the compile.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "../..");

async function bundle(outdir: string, codeCache: boolean): Promise<string> {
  const { bundleCli } = (await import(join(ROOT, "scripts/bundle.mjs"))) as {
    bundleCli: (outdir: string, o?: { sourcemap?: boolean; codeCache?: boolean }) => Promise<string>;
  };
  return bundleCli(outdir, { sourcemap: false, codeCache });
}

/** Whether V8 takes `engine.js.cache` for `engine.js` in a fresh node process (as the CLI runs: no flags, the text read as Latin-1). */
function cacheAccepted(outdir: string): boolean {
  const probe = `const fs = require("fs"), vm = require("vm");
const f = ${JSON.stringify(join(outdir, "engine.js"))};
const s = new vm.Script(fs.readFileSync(f, "latin1"), { filename: f, cachedData: fs.readFileSync(f + ".cache") });
process.stdout.write(String(!s.cachedDataRejected));`;
  return execFileSync(process.execPath, ["-e", probe], { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } }) === "true";
}

function execIn(entry: string, nodeArgs: string[] = []): string {
  const repo = mkdtempSync(join(tmpdir(), "nr-engine-bundle-repo-"));
  try {
    mkdirSync(join(repo, ".github/workflows"), { recursive: true });
    writeFileSync(join(repo, ".github/workflows/ci.yml"), "on: push\njobs:\n  one:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo from-the-engine-script\n");
    const env = { ...process.env, HOME: repo, XDG_STATE_HOME: join(repo, ".state"), XDG_CACHE_HOME: join(repo, ".cache") };
    return execFileSync(process.execPath, [...nodeArgs, entry, "exec"], { cwd: repo, encoding: "utf8", env });
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
}

test("the build writes a code cache V8 accepts, exec runs from it, and a cache that does not fit is only compiled over", async (t) => {
  const outdir = join(ROOT, "node_modules/.cache/native-runner-test", `engine-bundle-${process.pid}`);
  t.after(() => rmSync(outdir, { recursive: true, force: true }));
  const entry = await bundle(outdir, true);
  assert.ok(existsSync(join(outdir, "engine.js.cache")), "the warm-up wrote engine.js.cache");
  assert.ok(cacheAccepted(outdir), "V8 takes the cache for engine.js");
  assert.match(execIn(entry), /from-the-engine-script/);

  // A rebuild never keeps the previous build's cache next to the new script.
  writeFileSync(join(outdir, "engine.js.cache"), readFileSync(join(outdir, "engine.js.cache")));
  await bundle(outdir, false);
  assert.ok(!existsSync(join(outdir, "engine.js.cache")));
  assert.match(execIn(entry), /from-the-engine-script/);

  writeFileSync(join(outdir, "engine.js.cache"), Buffer.from("not a code cache"));
  assert.ok(!cacheAccepted(outdir));
  assert.match(execIn(entry), /from-the-engine-script/);
});

test("the engine script has no dynamic import() (it runs without a module loader), and a plain job loads no node:crypto", async (t) => {
  const outdir = join(ROOT, "node_modules/.cache/native-runner-test", `engine-bundle-crypto-${process.pid}`);
  t.after(() => rmSync(outdir, { recursive: true, force: true }));
  const entry = await bundle(outdir, false);
  const engine = readFileSync(join(outdir, "engine.js"), "utf8");
  assert.doesNotMatch(engine, /\bimport\s*\(\s*["'`]/, "a dynamic import() in the engine script fails at run time");
  // The built-in modules the exec process loaded, written at exit by a preloaded script.
  const list = join(outdir, "modules.txt");
  const preload = join(outdir, "list-modules.cjs");
  writeFileSync(preload, `process.on("exit", () => require("fs").writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.join("\\n")));`);
  assert.match(execIn(entry, ["-r", preload]), /from-the-engine-script/);
  const loaded = readFileSync(list, "utf8").split("\n");
  assert.ok(loaded.includes("NativeModule child_process"), "the list is the exec process's");
  assert.ok(!loaded.includes("NativeModule crypto"), "node:crypto is loaded only to hash (src/host/random.ts)");
});
