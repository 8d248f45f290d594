import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { evaluateExpression, ExpressionError } from "../../src/expressions/index.js";

function makeTree(): { root: string; ws: string } {
  const root = mkdtempSync(path.join(tmpdir(), "nr-hash-"));
  const ws = path.join(root, "ws");
  const files: Record<string, string> = {
    "package-lock.json": "lock-root",
    "a/package-lock.json": "lock-a",
    "a/b/package-lock.json": "lock-ab",
    "node_modules/x/package-lock.json": "lock-nm",
    "src/main.ts": "main",
    "src/util.ts": "util",
    "src/.hidden.ts": "hidden",
    "src/sub/deep.ts": "deep",
    "README.md": "readme",
  };
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(ws, rel)), { recursive: true });
    writeFileSync(path.join(ws, rel), content);
  }
  writeFileSync(path.join(root, "outside.ts"), "outside");
  return { root, ws };
}

/** GitHub's algorithm, written out: sha256 over the concatenated sha256 digests of the sorted files. */
function expected(ws: string, rels: string[]): string {
  const total = createHash("sha256");
  for (const rel of rels.map((r) => path.join(ws, r)).sort()) {
    total.update(createHash("sha256").update(readFileSync(rel)).digest());
  }
  return total.digest("hex");
}

const hash = (ws: string, args: string) => evaluateExpression(`hashFiles(${args})`, { contexts: {}, workspace: ws });

test("hashFiles matches GitHub's digest-of-digests over matched files", (t) => {
  const { root, ws } = makeTree();
  t.after(() => rmSync(root, { recursive: true, force: true }));

  assert.equal(
    hash(ws, "'**/package-lock.json'"),
    expected(ws, ["package-lock.json", "a/package-lock.json", "a/b/package-lock.json", "node_modules/x/package-lock.json"]),
  );
  assert.equal(hash(ws, "'package-lock.json'"), expected(ws, ["package-lock.json"]));
  // Single-file result is still the digest of the digest, not the file's own sha256.
  assert.notEqual(hash(ws, "'README.md'"), createHash("sha256").update("readme").digest("hex"));
});

test("hashFiles: ! exclusions, order of patterns, several arguments", (t) => {
  const { root, ws } = makeTree();
  t.after(() => rmSync(root, { recursive: true, force: true }));

  assert.equal(
    hash(ws, "'**/package-lock.json', '!node_modules/**'"),
    expected(ws, ["package-lock.json", "a/package-lock.json", "a/b/package-lock.json"]),
  );
  // A later include re-adds what an earlier exclusion removed.
  assert.equal(
    hash(ws, "'**/package-lock.json', '!a/**', 'a/b/**'"),
    expected(ws, ["package-lock.json", "a/b/package-lock.json", "node_modules/x/package-lock.json"]),
  );
  assert.equal(hash(ws, "'src/*.ts', 'README.md'"), expected(ws, ["src/main.ts", "src/util.ts", "src/.hidden.ts", "README.md"]));
});

test("hashFiles: a directory pattern matches the files under it; dot files match", (t) => {
  const { root, ws } = makeTree();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  assert.equal(hash(ws, "'src'"), expected(ws, ["src/main.ts", "src/util.ts", "src/.hidden.ts", "src/sub/deep.ts"]));
  assert.equal(hash(ws, "'src/?ain.ts'"), expected(ws, ["src/main.ts"]));
  assert.equal(hash(ws, "'src/[mu]*.ts'"), expected(ws, ["src/main.ts", "src/util.ts"]));
});

test("hashFiles: only files inside the workspace; empty string when nothing matches", (t) => {
  const { root, ws } = makeTree();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  assert.throws(() => hash(ws, "'../outside.ts'"), /relative pathing/);
  assert.throws(() => hash(ws, "'src/./main.ts'"), /relative pathing/);
  assert.equal(hash(ws, `'${path.join(root, "outside.ts")}'`), "");
  assert.equal(hash(ws, "'**/*.nothing'"), "");
  // An absolute pattern inside the workspace works.
  assert.equal(hash(ws, `'${path.join(ws, "README.md")}'`), expected(ws, ["README.md"]));
  // A symlink inside the workspace counts under its own path.
  symlinkSync(path.join(root, "outside.ts"), path.join(ws, "link.ts"));
  assert.equal(hash(ws, "'link.ts'"), expected(ws, ["link.ts"]));
});

test("hashFiles without a workspace is an expression error", () => {
  assert.throws(() => evaluateExpression("hashFiles('x')", { contexts: {} }), ExpressionError);
});

test("hashFiles matches the same files as @actions/glob, the library GitHub's runner uses", async (t) => {
  const glob = await import("@actions/glob");
  const { matchFiles } = await import("../../src/expressions/index.js");
  const { statSync } = await import("node:fs");
  const { root, ws } = makeTree();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(ws, "deep/er/est"), { recursive: true });
  writeFileSync(path.join(ws, "deep/er/est/x.lock"), "x");
  writeFileSync(path.join(ws, "deep/y.lock"), "y");
  writeFileSync(path.join(ws, "[weird].txt"), "w");
  symlinkSync(path.join(ws, "src"), path.join(ws, "src-link"));

  const cases: string[][] = [
    ["**/package-lock.json"],
    ["**/package-lock.json", "!node_modules/**"],
    ["**/package-lock.json", "!**/a/**", "a/b/**"],
    ["src"],
    ["src/**/*.ts"],
    ["src/*"],
    ["**/*.lock"],
    ["deep/**"],
    ["*"],
    ["**"],
    ["**", "!src", "!node_modules"],
    ["src/?ain.ts", "README.*"],
    ["src/[mu]*.ts"],
    ["src/[!m]*.ts"],
    ["./src/util.ts"],
    ["src-link/**/*.ts"],
    ["nothing/**"],
    ["# comment\nREADME.md\n!README.md"],
    ["**/sub", "!**/deep.ts"],
  ];
  // The runner runs its hashFiles script in the workspace; relative patterns are rooted there.
  const cwd = process.cwd();
  process.chdir(ws);
  t.after(() => process.chdir(cwd));
  for (const patterns of cases) {
    const globber = await glob.create(patterns.join("\n"), { followSymbolicLinks: true });
    const expectedFiles = (await globber.glob())
      .filter((f) => f.startsWith(ws + path.sep) && !statSync(f).isDirectory())
      .sort();
    assert.deepEqual(matchFiles(ws, patterns), expectedFiles, JSON.stringify(patterns));
  }
});
