import { VERSION_LINE } from "../version.js";
import { verbOf } from "./verb.js";

// `--version` answers before any other module loads: it is run by scripts and health checks that expect a
// Go runner's start-up time. (No top-level await: the built entry is CommonJS, see scripts/bundle.mjs.)
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === "--version" || args[0] === "-v")) {
  process.stdout.write(`${VERSION_LINE}\n`);
} else {
  void run();
}

async function run(): Promise<void> {
  // `exec` runs from the engine bundle with its code cache when there is one (the built CLI).
  const { loadEngineBundle } = await import("./bundle-loader.js");
  const engine = verbOf(process.argv) === "exec" ? loadEngineBundle(import.meta.url) : undefined;
  if (engine) return engine.runExec(process.argv);
  const { main } = await import("./main.js");
  await main(process.argv);
}
