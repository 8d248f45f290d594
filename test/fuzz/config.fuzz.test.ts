import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { stringify } from "yaml";
import { ConfigError, parseConfig } from "../../src/config/index.js";
import { FUZZ_RUNS } from "./fuzz-runs.js";

const keys = {
  log: ["level", "job_level", "format"],
  runner: ["file", "capacity", "envs", "env_file", "timeout", "shutdown_timeout", "insecure", "fetch_timeout",
    "fetch_interval", "fetch_interval_max", "report_interval", "report_retry", "labels", "trusted_repos", "protocol"],
  cache: ["enabled", "dir", "host", "port", "proxy_port", "external_server", "secret", "max_size", "mac_max_age"],
  host: ["workdir_parent", "isolation", "cgroups", "uid_range", "hidden_paths", "resources", "path"],
  server: ["connections"],
  nix: ["gcroots", "job_config"],
  metrics: ["enabled", "addr"],
};

const scalar = fc.oneof(
  fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null),
  fc.constantFrom("2s", "1h30m", "-5s", "10GiB", "nope", "0", "native:host", "docker://x", "file:/nonexistent"),
);
const value = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: "small" }, scalar, fc.array(tie("v"), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 6 }), tie("v"), { maxKeys: 3 })),
})).v;

const section = (names: string[]) => fc.dictionary(fc.oneof(fc.constantFrom(...names), fc.string({ maxLength: 8 })), value, { maxKeys: 5 });
const configDoc = fc.record(
  Object.fromEntries(Object.entries(keys).map(([k, names]) => [k, fc.oneof(section(names), value)])),
  { requiredKeys: [] },
);

test("config: any YAML yields a config or a ConfigError, never a crash", () => {
  fc.assert(
    fc.property(configDoc, (doc) => {
      const text = stringify(doc);
      try {
        const cfg = parseConfig(text, "fuzz.yaml", { env: { HOME: "/home/fuzz" }, cwd: "/tmp" });
        assert.ok(cfg.runner.capacity >= 1);
        assert.ok(Array.isArray(cfg.warnings));
      } catch (err) {
        assert.ok(err instanceof ConfigError, `unexpected ${(err as Error)?.stack ?? String(err)}`);
        assert.ok((err as ConfigError).problems.length > 0);
      }
    }),
    { numRuns: FUZZ_RUNS },
  );
});

test("config: arbitrary text never crashes the loader", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 400 }), (text) => {
      try {
        parseConfig(text, "fuzz.yaml", { env: { HOME: "/home/fuzz" }, cwd: "/tmp" });
      } catch (err) {
        assert.ok(err instanceof ConfigError, `unexpected ${(err as Error)?.stack ?? String(err)}`);
      }
    }),
    { numRuns: FUZZ_RUNS },
  );
});
