// Cross-check against Go's encoding/json itself (skipped without a Go toolchain).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { REGISTRATION_WARNING, serializeRegistration } from "../../src/config/registration.js";
import type { RegistrationFile } from "../../src/config/types.js";

const here = dirname(fileURLToPath(import.meta.url));
const hasGo = spawnSync("go", ["version"]).status === 0;

test("random registrations encode to the same bytes as Go's encoder", { skip: hasGo ? false : "no Go toolchain", timeout: 120_000 }, () => {
  // Valid Unicode text (what a server can send), with the characters Go escapes specially.
  const text = fc.string({
    unit: fc.oneof(
      fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }),
      fc.constantFrom("<", ">", "&", "\u2028", "\u2029", "\\", '"', "\b", "\f", "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "\u00e9", "\u{1f600}"),
    ),
    maxLength: 24,
  });
  const reg = fc.record({
    id: fc.integer({ min: 0, max: 2 ** 53 - 1 }),
    uuid: text,
    name: text,
    token: text,
    address: text,
    labels: fc.array(text, { maxLength: 4 }),
  });
  const samples: RegistrationFile[] = fc.sample(reg, { numRuns: 300, seed: 42 });
  const input = JSON.stringify(samples.map((r) => ({ ...r, WARNING: REGISTRATION_WARNING })));
  const go = spawnSync("go", ["run", join(here, "fixtures/go-json/main.go")], {
    input,
    encoding: "utf8",
    env: { ...process.env, GO111MODULE: "off", GOFLAGS: "", GOCACHE: process.env.GOCACHE ?? "/tmp/nr-go-cache" },
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(go.status, 0, go.stderr);
  const outputs = go.stdout.split("\0").slice(0, -1);
  assert.equal(outputs.length, samples.length);
  samples.forEach((r, i) => assert.equal(serializeRegistration(r), outputs[i], JSON.stringify(r)));
});
