import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GcRootManager, segment, isDefaultBranchRef } from "../../src/nix/index.js";
import { parseDeclaredRoots, toStorePath } from "../../src/nix/store-paths.js";

const hasNix = spawnSync("nix-build", ["--version"]).status === 0;
const skipNix = hasNix ? false : "nix-build is not installed (scripts/setup-host.sh installs it)";

function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Builds a unique trivial derivation in `ws`, leaving `<ws>/<link>` as nix-build does. */
function build(ws: string, name: string, link = "result"): string {
  writeFileSync(
    join(ws, `${name}.nix`),
    `derivation { name = "${name}"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo ${name} > $out" ]; }`,
  );
  const out = execFileSync("nix-build", ["--option", "substituters", "", "-o", join(ws, link), join(ws, `${name}.nix`)], {
    encoding: "utf8",
  });
  return out.trim();
}

function deletable(storePath: string): boolean {
  return spawnSync("nix-store", ["--delete", storePath], { encoding: "utf8" }).status === 0;
}

const policy = { ttl: 0, keepLast: 0, defaultBranchOnly: false };

test("store path helpers", () => {
  assert.equal(
    toStorePath("/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-1.0/bin/hello"),
    "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-1.0",
  );
  assert.equal(toStorePath("/etc/passwd"), undefined);
  assert.equal(toStorePath("/nix/store/../../etc"), undefined);
  const { roots, invalid } = parseDeclaredRoots(
    "# comment\n/nix/store/0123456789abcdfghijklmnpqrsvwxyz-a\n\n/tmp/x\n",
  );
  assert.deepEqual(roots.map((r) => r.storePath), ["/nix/store/0123456789abcdfghijklmnpqrsvwxyz-a"]);
  assert.deepEqual(invalid, ["/tmp/x"]);
  assert.equal(segment("refs/heads/feature/x y"), "heads_feature_x_y");
  assert.equal(segment("../.."), "__..");
  assert.ok(isDefaultBranchRef("refs/heads/main", "main"));
  assert.ok(!isDefaultBranchRef("refs/heads/dev", "main"));
});

test("a job's outputs outlive its workspace, then expire", { skip: skipNix }, async (t) => {
  const state = tmp("nr-state-");
  const ws = tmp("nr-ws-");
  const other = tmp("nr-other-");
  // the roots live in the state dir: removing it leaves nothing alive behind the test
  t.after(() => {
    for (const d of [state, ws, other]) rmSync(d, { recursive: true, force: true });
  });
  const id = `nr-gc-${process.pid}-${Date.now()}`;
  const a = build(ws, `${id}-a`);
  const b = build(ws, `${id}-b`, "result-b");
  // a path declared through the file command, rooted only via a link outside the workspace
  const c = build(other, `${id}-c`);
  const declared = join(ws, "declared");
  writeFileSync(declared, `${c}\n/not/a/store/path\n`);

  const mgr = new GcRootManager({ stateDir: state, policy: { ...policy, ttl: 60_000 } });
  const r = await mgr.harvest({
    workspace: ws, declaredFile: declared, repository: "torjus/nixos-exporter",
    ref: "refs/heads/master", defaultBranch: "master", runId: "17", jobId: "build",
  });
  assert.deepEqual(new Set(r.kept.map((k) => k.storePath)), new Set([a, b, c]));
  assert.match(r.notes.join("\n"), /ignored declared root.*\/not\/a\/store\/path/);
  assert.equal(r.dir, join(state, "gcroots", "torjus", "nixos-exporter", "heads_master", "17-build"));
  assert.equal(readlinkSync(join(r.dir!, a.slice("/nix/store/".length))), a);

  rmSync(ws, { recursive: true, force: true });
  rmSync(other, { recursive: true, force: true });
  for (const p of [a, b, c]) assert.equal(deletable(p), false, `${p} must still be alive`);
  assert.deepEqual(new Set(await mgr.rootedPaths()), new Set([a, b, c]));
  const usage = await mgr.usage();
  assert.equal(usage.roots, 3);
  assert.ok(usage.bytes > 0);

  // not yet expired
  assert.deepEqual(await mgr.sweep(), []);
  // two minutes later the 60 s TTL has passed
  const removed = await mgr.sweep(Date.now() + 120_000);
  assert.deepEqual(removed, [r.dir]);
  assert.equal(existsSync(join(state, "gcroots", "torjus")), false, "empty parents are removed");
  for (const p of [a, b, c]) assert.equal(deletable(p), true, `${p} must be collectable after expiry`);
});

test("keep-last per repo+ref, touch on unchanged outputs, default-branch-only", { skip: skipNix }, async (t) => {
  const state = tmp("nr-state-");
  // ttl 0 keeps these roots for ever: the state dir goes, and with it every root the test made
  const dirs = [state];
  t.after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const id = `nr-keep-${process.pid}-${Date.now()}`;
  const mgr = new GcRootManager({ stateDir: state, policy: { ttl: 0, keepLast: 2, defaultBranchOnly: true } });
  const base = { repository: "o/r", ref: "refs/heads/main", defaultBranch: "main", jobId: "j" };
  const outs: string[] = [];
  for (let run = 1; run <= 3; run++) {
    const ws = tmp("nr-ws-");
    dirs.push(ws);
    outs.push(build(ws, `${id}-${run}`));
    const r = await mgr.harvest({ ...base, workspace: ws, runId: String(run) });
    assert.equal(r.kept.length, 1);
    rmSync(ws, { recursive: true, force: true });
    // distinct mtimes
    utimesSync(r.dir!, new Date(Date.now() - (10 - run) * 1000), new Date(Date.now() - (10 - run) * 1000));
  }
  const refDir = join(state, "gcroots", "o", "r", "heads_main");
  assert.deepEqual(readdirSync(refDir).sort(), ["2-j", "3-j"]);
  assert.equal(deletable(outs[0]!), true);

  // run 4 rebuilds the output of run 2 (unchanged): run 2's root is refreshed and survives keep-last
  const ws4 = tmp("nr-ws-");
  dirs.push(ws4);
  build(ws4, `${id}-2`);
  const old = Date.now() - 3600_000;
  utimesSync(join(refDir, "2-j"), new Date(old), new Date(old));
  await mgr.harvest({ ...base, workspace: ws4, runId: "4" });
  rmSync(ws4, { recursive: true, force: true });
  assert.deepEqual(readdirSync(refDir).sort(), ["2-j", "4-j"]);

  // a feature branch keeps nothing with default_branch_only
  const ws5 = tmp("nr-ws-");
  dirs.push(ws5);
  const feature = build(ws5, `${id}-feature`);
  const r5 = await mgr.harvest({ ...base, ref: "refs/heads/feature", workspace: ws5, runId: "5" });
  assert.equal(r5.kept.length, 0);
  assert.match(r5.notes[0]!, /not the default branch/);
  rmSync(ws5, { recursive: true, force: true });
  assert.equal(deletable(feature), true);
  // what was kept is alive until the state dir goes
  const kept = await mgr.rootedPaths();
  assert.deepEqual(kept, [outs[1]], "runs 2 and 4 root the same output");
  rmSync(state, { recursive: true, force: true });
  for (const p of kept) assert.equal(deletable(p), true, `${p}: no root left once the state dir is gone`);
});
