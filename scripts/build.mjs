// Bundles the CLI into dist/native-runner.js with esbuild.
// Bundling is also how @actions/workflow-parser works on plain Node 20: the
// published package imports its JSON schema without an import attribute,
// which Node 20 rejects; esbuild inlines the JSON at build time.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
await build({
  entryPoints: [join(root, "src/cli/entry.ts")],
  outfile: join(root, "dist/native-runner.js"),
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  sourcemap: true,
  // Native addon: resolved from node_modules at run time.
  external: ["better-sqlite3"],
  // Some CommonJS dependencies call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __nrCreateRequire } from 'node:module'; const require = __nrCreateRequire(import.meta.url);" },
  logLevel: "warning",
});
