// The config.yaml that nix/module.nix generates must load through the same
// loader without errors or warnings.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig } from "../../src/config/load-config.js";
import { resolveConnections } from "../../src/config/connections.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const hasNix = spawnSync("nix-instantiate", ["--version"]).status === 0;

test("the NixOS module's generated config loads cleanly", { skip: hasNix ? false : "nix-instantiate is not installed" }, () => {
  const out = execFileSync("nix-instantiate", ["--eval", "--strict", "--json", join(root, "test/nix/module-eval.nix")], {
    encoding: "utf8",
  });
  const unit = (JSON.parse(out) as { unit: { serviceConfig: { ExecStart: string } } }).unit;
  // The stub's formats.yaml renders `<store path>:<JSON>`; JSON is YAML.
  const m = /--config \/nix\/store\/[^:]+\.yaml:(\{.*\})$/.exec(unit.serviceConfig.ExecStart);
  assert.ok(m, unit.serviceConfig.ExecStart);
  const cfg = parseConfig(m[1], "module.yaml", { env: { HOME: "/var/lib/native-runner/actions2" }, cwd: "/var/lib/native-runner/actions2" });
  assert.deepEqual(cfg.warnings, []);
  assert.equal(cfg.runner.capacity, 4);
  assert.equal(cfg.runner.file, "/var/lib/native-runner/actions2/.runner");
  assert.deepEqual(cfg.runner.labels, ["native:host"]);
  assert.deepEqual(cfg.runner.trusted_repos, ["torjus/nixos-servers", "torjus/nixos-exporter", "torjus/nixos"]);
  assert.equal(cfg.cache.dir, "/var/lib/native-runner/actions2/cache");
  assert.equal(cfg.host.resources.memory_max, 8 * 1024 ** 3);
  assert.equal(cfg.host.resources.cpu_quota, 200);
  assert.equal(cfg.nix.gcroots.ttl, 168 * 3600_000);
  assert.equal(cfg.nix.gcroots.keep_last, 3);
  assert.deepEqual(resolveConnections(cfg), []);
});

test("the forgejo-runner module's connection shape (token_url via LoadCredential) loads", () => {
  // What nixpkgs' services.forgejo-runner writes for one connection.
  const json = JSON.stringify({
    runner: { capacity: 2 },
    server: {
      connections: {
        forgejo: {
          url: "https://code.example/", uuid: "8b0f3c9e-0b64-4a39-9f16-3cfd3a4e2a10",
          token_url: "file:$CREDENTIALS_DIRECTORY/forgejo-token", labels: ["native:host"], fetch_interval: "5s",
        },
      },
    },
  });
  const creds = join(root, "test/config/fixtures/credentials");
  const cfg = parseConfig(json, "c.yaml", { env: { HOME: "/h", CREDENTIALS_DIRECTORY: creds }, cwd: "/h" });
  assert.deepEqual(cfg.warnings, []);
  const [c] = resolveConnections(cfg);
  assert.equal(c!.token, "7d3b8a1f0c2e4d6f8a9b0c1d2e3f4a5b6c7d8e9f");
  assert.equal(c!.fetch_interval, 5000);
  assert.deepEqual(c!.labels, ["native:host"]);
});
