import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verbOf } from "../../src/cli/main.js";
import { VERSION } from "../../src/version.js";

const ROOT = join(import.meta.dirname, "../..");
const BIN = join(ROOT, "bin/native-runner.js");

test("--version prints `native-runner version vX.Y.Z` under every installed name", (t) => {
  assert.match(VERSION, /^v\d+\.\d+\.\d+/);
  const dir = mkdtempSync(join(tmpdir(), "nr-cli-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const name of ["native-runner", "forgejo-runner", "act_runner"]) {
    const link = join(dir, name);
    symlinkSync(BIN, link);
    for (const flag of ["--version", "-v"]) {
      assert.equal(execFileSync(process.execPath, [link, flag], { encoding: "utf8" }), `native-runner version ${VERSION}\n`);
    }
  }
});

test("the verb is the first word that is not an option or the config file", () => {
  assert.equal(verbOf(["node", "nr", "exec", "-j", "build"]), "exec");
  assert.equal(verbOf(["node", "nr", "-c", "config.yaml", "daemon"]), "daemon");
  assert.equal(verbOf(["node", "nr", "--config", "exec", "validate"]), "validate");
  assert.equal(verbOf(["node", "nr", "--help"]), undefined);
  assert.equal(verbOf(["node", "nr"]), undefined);
});

test("help lists every verb; a verb's help and unknown verbs still work", () => {
  const help = execFileSync(process.execPath, [BIN, "--help"], { encoding: "utf8" });
  for (const verb of ["register", "create-runner-file", "daemon", "one-job", "exec", "validate", "generate-config", "cache-server", "status"]) {
    assert.match(help, new RegExp(`^  ${verb}\\b`, "m"), verb);
  }
  assert.match(execFileSync(process.execPath, [BIN, "exec", "--help"], { encoding: "utf8" }), /--concurrency/);
  assert.match(execFileSync(process.execPath, [BIN, "-c", "x.yaml", "generate-config"], { encoding: "utf8" }), /fetch_interval/);
  let err = "";
  try {
    execFileSync(process.execPath, [BIN, "toString"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    err = String((e as { stderr?: string }).stderr);
  }
  assert.match(err, /unknown command 'toString'/);
});
