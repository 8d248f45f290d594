// Rewrites src/config/config-example.ts from src/config/config.example.yaml.
// Run after editing the YAML: node test/config/regen-config-example.mjs
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "config");
const text = readFileSync(join(dir, "config.example.yaml"), "utf8");
const escaped = text.replace(/\\/g, "\\\\").replace(/`/g, "\\`").replace(/\$\{/g, "\\${");
writeFileSync(
  join(dir, "config-example.ts"),
  "// The text of config.example.yaml, embedded so the bundled CLI needs no data files.\n" +
    "// Keep both in step (node test/config/regen-config-example.mjs); a test checks they are equal.\n" +
    "export const CONFIG_EXAMPLE = `" + escaped + "`;\n",
);
