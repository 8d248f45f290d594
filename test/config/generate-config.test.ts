import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { CONFIG_EXAMPLE } from "../../src/config/config-example.js";
import { defaultConfig } from "../../src/config/defaults.js";
import { parseConfig } from "../../src/config/load-config.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const run = promisify(execFile);

test("the embedded example is config.example.yaml", () => {
  assert.equal(
    CONFIG_EXAMPLE, readFileSync(join(root, "src/config/config.example.yaml"), "utf8"),
    "regenerate src/config/config-example.ts with: node test/config/regen-config-example.mjs",
  );
});

test("loading the example gives exactly the defaults, with no warnings", () => {
  const env = { HOME: "/home/x" };
  const cfg = parseConfig(CONFIG_EXAMPLE, "example.yaml", { env, cwd: "/var/lib/r" });
  assert.deepEqual(cfg.warnings, []);
  assert.deepEqual({ ...cfg, config_file: undefined }, { ...defaultConfig(env, "/var/lib/r"), config_file: undefined });
});

test("the example documents every key the loader knows", () => {
  // Every leaf of the resolved defaults appears as a key in the example (commented or not).
  const cfg = defaultConfig({ HOME: "/h" }, "/");
  const skip = new Set(["state_dir", "warnings", "config_file"]);
  const missing: string[] = [];
  for (const [section, value] of Object.entries(cfg)) {
    if (skip.has(section)) continue;
    for (const key of Object.keys(value as object)) {
      if (!new RegExp(`^\\s*#?\\s*${key}:`, "m").test(CONFIG_EXAMPLE)) missing.push(`${section}.${key}`);
    }
  }
  for (const k of ["path", "node", "job_gid", "secret_url", "env_file", "token_url", "cache_mode"]) {
    if (!new RegExp(`^\\s*#?\\s*${k}:`, "m").test(CONFIG_EXAMPLE)) missing.push(k);
  }
  assert.deepEqual(missing, []);
});

test("generate-config prints the example", { timeout: 60_000 }, async () => {
  const { stdout } = await run(process.execPath, ["--import", "tsx", join(root, "src/cli/entry.ts"), "generate-config"], { cwd: root });
  assert.equal(stdout, CONFIG_EXAMPLE);
});
