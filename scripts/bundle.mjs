// The CLI bundle, shared by scripts/build.mjs and the benchmarks (which measure the shipped form).
// Split into chunks (ESM): each verb loads its own code on demand, so `--version` or `exec` do not compile
// the daemon, the protocol registries, metrics or the cache.
// Bundling is also how @actions/workflow-parser works on plain Node 20: the published package imports its JSON
// schema without an import attribute, which Node 20 rejects; esbuild inlines the JSON at build time.
import { build } from "esbuild";
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

/** Bundles src/cli/entry.ts into `outdir`; returns the entry file (`outdir/native-runner.js`). */
export async function bundleCli(outdir, { sourcemap = true } = {}) {
  await build({
    // The job worker the daemon starts once per job sits next to the CLI entry (dist/job-worker.js).
    entryPoints: { "native-runner": join(ROOT, "src/cli/entry.ts"), "job-worker": join(ROOT, "src/worker/entry.ts") },
    outdir,
    entryNames: "[name]",
    chunkNames: "chunks/[name]-[hash]",
    bundle: true,
    splitting: true,
    platform: "node",
    target: "node20",
    format: "esm",
    sourcemap,
    plugins: [fastWorkflowSchema],
    // Native addon: resolved from node_modules at run time.
    external: ["better-sqlite3", "dockerode"],
    // Some CommonJS dependencies call require(); give every ESM chunk one.
    banner: { js: "import { createRequire as __nrCreateRequire } from 'node:module'; const require = __nrCreateRequire(import.meta.url);" },
    logLevel: "warning",
  });
  return join(outdir, "native-runner.js");
}
