// The CLI bundle, shared by scripts/build.mjs and the benchmarks (which measure the shipped form); its layout is
// described at bundleCli.
// Bundling is also how @actions/workflow-parser works on plain Node 20: the published package imports its JSON
// schema without an import attribute, which Node 20 rejects; esbuild inlines the JSON at build time.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

// The package's getWorkflowSchema() re-validates its shipped JSON on every start; the bundle builds the same
// schema directly (src/workflow/workflow-schema-tokens.ts, checked equal by a test).
const parserDist = dirname(fileURLToPath(import.meta.resolve("@actions/workflow-parser")));
export const fastWorkflowSchema = {
  name: "fast-workflow-schema",
  setup(b) {
    b.onResolve({ filter: /workflow-schema(\.js)?$/ }, (args) => {
      const fromPackage = args.importer.startsWith(join(parserDist, "workflows")) && args.path === "./workflow-schema.js";
      if (!fromPackage && args.path !== "@actions/workflow-parser/workflows/workflow-schema") return undefined;
      return { path: "workflow-schema", namespace: "fast-workflow-schema" };
    });
    b.onLoad({ filter: /.*/, namespace: "fast-workflow-schema" }, () => ({
      resolveDir: ROOT,
      loader: "js",
      contents: [
        `import json from ${JSON.stringify(join(parserDist, "workflow-v1.0.min.json"))};`,
        `import { schemaFromJson } from ${JSON.stringify(join(ROOT, "src/workflow/workflow-schema-tokens.ts"))};`,
        "let schema;",
        "export function getWorkflowSchema() { return schema ??= schemaFromJson(json); }",
      ].join("\n"),
    }));
  },
};

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  plugins: [fastWorkflowSchema],
  // Native addon: resolved from node_modules at run time.
  external: ["better-sqlite3", "dockerode"],
  logLevel: "warning",
};

// The entries import the CLI's verbs (dist/chunks/cli-main.js) at run time, by path.
const mainExternal = {
  name: "cli-main-external",
  setup(b) {
    b.onResolve({ filter: /^\.\/main\.js$/ }, (args) =>
      args.importer === join(ROOT, "src/cli/entry.ts") ? { path: "./chunks/cli-main.js", external: true } : undefined,
    );
  },
};

// CommonJS files that read import.meta.url get it from their own file name.
const metaUrlFromFilename = {
  define: { "import.meta.url": "__nrImportMetaUrl" },
  banner: `var __nrImportMetaUrl = require("node:url").pathToFileURL(__filename).href;`,
};

/**
 * Bundles the CLI into `outdir`; returns the entry file (`outdir/native-runner.js`).
 *  - native-runner.js and job-worker.js: small self-contained CommonJS entries (outdir/package.json says so):
 *    `--version` loads nothing else, and `exec` and the job worker never start Node's ES module loader;
 *  - chunks/ (ES modules, chunks/package.json): every verb, code split from chunks/cli-main.js, so a verb loads
 *    only its own code (the daemon no engine);
 *  - engine.js: `exec` and the job worker in one script of CommonJS form, loaded with a V8 code cache
 *    (src/cli/bundle-loader.ts); with `codeCache`, a warm-up job writes that cache (engine.js.cache).
 */
export async function bundleCli(outdir, { sourcemap = true, codeCache = false } = {}) {
  // A cache from an earlier build must never meet a new engine.js (V8 checks the source's length only).
  await rm(join(outdir, "engine.js.cache"), { force: true });
  await Promise.all([
    build({
      ...common,
      entryPoints: { "cli-main": join(ROOT, "src/cli/main.ts") },
      outdir,
      entryNames: "chunks/[name]",
      chunkNames: "chunks/[name]-[hash]",
      splitting: true,
      format: "esm",
      sourcemap,
      // Connect's Headers without Node's fetch implementation (src/protocol/light-headers.ts says why).
      inject: [join(ROOT, "src/protocol/light-headers.ts")],
      // Some CommonJS dependencies call require(); give every ESM chunk one.
      banner: { js: "import { createRequire as __nrCreateRequire } from 'node:module'; const require = __nrCreateRequire(import.meta.url);" },
    }),
    build({
      ...common,
      entryPoints: { "native-runner": join(ROOT, "src/cli/entry.ts"), "job-worker": join(ROOT, "src/cli/job-worker-entry.ts") },
      outdir,
      entryNames: "[name]",
      format: "cjs",
      sourcemap,
      plugins: [mainExternal],
      define: metaUrlFromFilename.define,
      banner: { js: metaUrlFromFilename.banner },
    }),
    build({
      ...common,
      entryPoints: { engine: join(ROOT, "src/cli/engine-bundle.ts") },
      outdir,
      format: "cjs",
      sourcemap,
      define: metaUrlFromFilename.define,
      // The file is one function expression (the CommonJS wrapper is part of it): the loader compiles the file's
      // text as it is, without a wrapped copy of a megabyte of source.
      banner: { js: `(function (exports, require, module, __filename, __dirname) { ${metaUrlFromFilename.banner}` },
      footer: { js: "})" },
    }),
  ]);
  await writeFile(join(outdir, "package.json"), `${JSON.stringify({ type: "commonjs" })}\n`);
  await writeFile(join(outdir, "chunks/package.json"), `${JSON.stringify({ type: "module" })}\n`);
  const entry = join(outdir, "native-runner.js");
  if (codeCache) await writeCodeCache(entry);
  return entry;
}

/**
 * Runs a one-step job through `exec` in a scratch directory with the code cache written at exit. Needs only
 * Node and a shell (no git: exec falls back to a local repository name), so it also runs in a package build's
 * sandbox; HOME and the XDG directories point into the scratch directory, so the build leaves nothing behind.
 */
async function writeCodeCache(entry) {
  const dir = await mkdtemp(join(tmpdir(), "nr-code-cache-"));
  try {
    await mkdir(join(dir, ".github/workflows"), { recursive: true });
    await writeFile(join(dir, ".github/workflows/warm.yml"), "on: push\njobs:\n  warm:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo warm\n");
    const env = { ...process.env, HOME: dir, XDG_CACHE_HOME: join(dir, ".cache"), XDG_STATE_HOME: join(dir, ".state"), NATIVE_RUNNER_WRITE_CODE_CACHE: "1" };
    // V8 takes a cache only under the flags it was written with: the CLI runs without NODE_OPTIONS' flags.
    delete env.NODE_OPTIONS;
    execFileSync(process.execPath, [entry, "exec"], { cwd: dir, stdio: "ignore", env });
  } catch (err) {
    // Without a cache the CLI only starts slower.
    process.stderr.write(`bundle: no code cache (the warm-up job failed: ${err.message})\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
