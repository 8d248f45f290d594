import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { evaluateExpression, ExpressionError, withHashFiles } from "../../src/expressions/index.js";

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

const hash = (ws: string, args: string, signal?: AbortSignal) =>
  withHashFiles(() => evaluateExpression(`hashFiles(${args})`, { contexts: {}, workspace: ws }), signal);

test("hashFiles matches GitHub's digest-of-digests over matched files", async (t) => {
  const { root, ws } = makeTree();
  t.after(() => rmSync(root, { recursive: true, force: true }));

  assert.equal(
    await hash(ws, "'**/package-lock.json'"),
    expected(ws, ["package-lock.json", "a/package-lock.json", "a/b/package-lock.json", "node_modules/x/package-lock.json"]),
  );
  assert.equal(await hash(ws, "'package-lock.json'"), expected(ws, ["package-lock.json"]));
  // Single-file result is still the digest of the digest, not the file's own sha256.
  assert.notEqual(await hash(ws, "'README.md'"), createHash("sha256").update("readme").digest("hex"));
});

test("hashFiles: ! exclusions, order of patterns, several arguments", async (t) => {
  const { root, ws } = makeTree();
  t.after(() => rmSync(root, { recursive: true, force: true }));

  assert.equal(
    await hash(ws, "'**/package-lock.json', '!node_modules/**'"),
    expected(ws, ["package-lock.json", "a/package-lock.json", "a/b/package-lock.json"]),
  );
  // A later include re-adds what an earlier exclusion removed.
  assert.equal(
    await hash(ws, "'**/package-lock.json', '!a/**', 'a/b/**'"),
    expected(ws, ["package-lock.json", "a/b/package-lock.json", "node_modules/x/package-lock.json"]),
  );
  assert.equal(await hash(ws, "'src/*.ts', 'README.md'"), expected(ws, ["src/main.ts", "src/util.ts", "src/.hidden.ts", "README.md"]));
});

test("hashFiles: a directory pattern matches the files under it; dot files match", async (t) => {
  const { root, ws } = makeTree();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  assert.equal(await hash(ws, "'src'"), expected(ws, ["src/main.ts", "src/util.ts", "src/.hidden.ts", "src/sub/deep.ts"]));
  assert.equal(await hash(ws, "'src/?ain.ts'"), expected(ws, ["src/main.ts"]));
  assert.equal(await hash(ws, "'src/[mu]*.ts'"), expected(ws, ["src/main.ts", "src/util.ts"]));
});

test("hashFiles: only files inside the workspace; empty string when nothing matches", async (t) => {
  const { root, ws } = makeTree();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  await assert.rejects(hash(ws, "'../outside.ts'"), /relative pathing/);
  await assert.rejects(hash(ws, "'src/./main.ts'"), /relative pathing/);
  assert.equal(await hash(ws, `'${path.join(root, "outside.ts")}'`), "");
  assert.equal(await hash(ws, "'**/*.nothing'"), "");
  // An absolute pattern inside the workspace works.
  assert.equal(await hash(ws, `'${path.join(ws, "README.md")}'`), expected(ws, ["README.md"]));
  // A symlink to a file inside the workspace counts under its own path.
  symlinkSync(path.join(ws, "README.md"), path.join(ws, "link.md"));
  assert.equal(await hash(ws, "'link.md'"), expected(ws, ["link.md"]));
});

test("hashFiles never leaves the workspace: symlinks out of it (to files or directories) are not followed", async (t) => {
  const { root, ws } = makeTree();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  // A root-only file outside the workspace, and a directory outside it.
  const secret = path.join(root, "root-only");
  writeFileSync(secret, "secret", { mode: 0o600 });
  mkdirSync(path.join(root, "outdir"));
  writeFileSync(path.join(root, "outdir", "x.ts"), "x");
  symlinkSync(secret, path.join(ws, "link.ts"));
  symlinkSync(path.join(root, "outdir"), path.join(ws, "outdir-link"));
  symlinkSync(root, path.join(ws, "src", "up"));
  assert.equal(await hash(ws, "'link.ts'"), "");
  assert.equal(await hash(ws, "'outdir-link/**'"), "");
  // Patterns that also match files inside hash only those.
  assert.equal(await hash(ws, "'**/*.ts'"), expected(ws, ["src/main.ts", "src/util.ts", "src/.hidden.ts", "src/sub/deep.ts"]));
  const { matchFiles } = await import("../../src/expressions/index.js");
  const all = await matchFiles(ws, ["**"]);
  assert.ok(!all.some((f) => f.includes("link.ts") || f.includes("outdir-link") || f.includes(`${path.sep}up${path.sep}`)), all.join("\n"));
});

test("hashFiles streams: a 30 GB sparse file leaves the event loop free and stops when cancelled", async (t) => {
  const { root, ws } = makeTree();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  execFileSync("truncate", ["-s", "30G", path.join(ws, "huge.bin")]);
  const ac = new AbortController();
  let settled = false;
  const running = hash(ws, "'huge.bin'", ac.signal).finally(() => (settled = true));
  running.catch(() => {});
  // A timer keeps firing while the file is being read.
  let ticks = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (++ticks >= 25) {
        clearInterval(timer);
        resolve();
      }
    }, 10);
  });
  assert.equal(settled, false, "30 GB cannot have been hashed yet");
  ac.abort(new Error("job cancelled"));
  await assert.rejects(running, /job cancelled/);
});

test("hashFiles without a workspace is an expression error", () => {
  // (also outside withHashFiles: the synchronous evaluation never reads files)
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
    assert.deepEqual(await matchFiles(ws, patterns), expectedFiles, JSON.stringify(patterns));
  }
});
