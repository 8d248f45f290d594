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

test("loading the example gives the defaults, with no warnings, except where forgejo-runner's example differs", () => {
  const env = { HOME: "/home/x" };
  const cfg = parseConfig(CONFIG_EXAMPLE, "example.yaml", { env, cwd: "/var/lib/r" });
  assert.deepEqual(cfg.warnings, []);
  const defaults = defaultConfig(env, "/var/lib/r");
  // What forgejo-runner's generate-config prints for the same keys.
  assert.deepEqual(cfg.runner.envs, { A_TEST_ENV_NAME_1: "a_test_env_value_1", A_TEST_ENV_NAME_2: "a_test_env_value_2" });
  assert.equal(cfg.runner.env_file, "/var/lib/r/.env");
  assert.equal(cfg.runner.shutdown_timeout, 3 * 3600_000);
  assert.deepEqual(defaults.runner.envs, {});
  assert.equal(defaults.runner.shutdown_timeout, 0);
  const { env_file: _, ...runner } = cfg.runner;
  const same = { ...cfg, config_file: undefined, runner: { ...runner, envs: {}, shutdown_timeout: 0 } };
  assert.deepEqual(same, { ...defaults, config_file: undefined });
});

test("keys forgejo-runner does not know are marked (native-runner)", () => {
  const lines = CONFIG_EXAMPLE.split("\n");
  // The comment block right above a key, up to the previous key.
  const commentAbove = (key: string): string => {
    const i = lines.findIndex((l) => new RegExp(`^\\s*#?\\s*${key}:`).test(l));
    assert.ok(i > 0, key);
    const block: string[] = [];
    for (let j = i - 1; j >= 0 && /^\s*#/.test(lines[j]!) && !/^\s*#\s*[a-z_]+:(\s|$)/.test(lines[j]!); j--) block.unshift(lines[j]!);
    return block.join("\n");
  };
  for (const key of ["format", "trusted_repos", "trusted_events", "protocol", "secret_url", "max_size", "mac_max_age", "isolation",
    "cgroups", "path", "node", "uid_range", "job_gid", "hidden_paths", "resources", "cache_dir", "gcroots", "job_config", "warn_trusted_user"]) {
    assert.match(commentAbove(key), /\((native-runner)|(Gitea act_runner key)/, key);
  }
  for (const key of ["envs", "env_file", "shutdown_timeout", "capacity", "timeout", "dir", "external_server", "secret"]) {
    assert.doesNotMatch(commentAbove(key), /\(native-runner\)/, key);
  }
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
