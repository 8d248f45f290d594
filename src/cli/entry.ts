import { VERSION_LINE } from "../version.js";

// `--version` answers before any other module loads: it is run by scripts and health checks that expect a
// Go runner's start-up time.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === "--version" || args[0] === "-v")) {
  process.stdout.write(`${VERSION_LINE}\n`);
} else {
  const { main } = await import("./main.js");
  await main(process.argv);
}
