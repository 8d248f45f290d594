// Config shapes the NixOS modules generate load through the same loader
// without errors or warnings (nix/module.nix's own file: test/nix/module.test.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig } from "../../src/config/load-config.js";
import { resolveConnections } from "../../src/config/connections.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

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
