import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { createJobDirs, removeJobDirs } from "../../src/host/job-dirs.js";

test("job dirs without a job uid: flat and nested leftovers are removed, a link put in place of a job directory is removed and not followed", async (t) => {
  const parent = mkdtempSync(join(tmpdir(), "nr-jobdirs-"));
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  const outside = join(parent, "outside");
  mkdirSync(outside);
  writeFileSync(join(outside, "keep"), "x");

  const d = await createJobDirs({ parent: join(parent, "jobs"), jobKey: "j" });
  writeFileSync(join(d.temp, "script.sh"), "echo\n");
  writeFileSync(join(d.temp, "GITHUB_ENV"), "");
  symlinkSync(outside, join(d.temp, "link-to-outside"));
  mkdirSync(join(d.home, "a/b"), { recursive: true });
  writeFileSync(join(d.home, "a/b/f"), "x");
  rmSync(d.toolCache, { recursive: true });
  symlinkSync(outside, d.toolCache);
  await removeJobDirs(d);

  assert.equal(existsSync(d.root), false, "the job root is gone");
  assert.deepEqual(readdirSync(outside), ["keep"], "nothing outside the job root was touched");
  assert.deepEqual(readdirSync(join(parent, "jobs")), []);
});

test("isolation none: whole trees are removed in-process, links unlinked and not followed, a read-only directory removed too", async (t) => {
  const parent = mkdtempSync(join(tmpdir(), "nr-jobdirs-"));
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  const outside = join(parent, "outside");
  mkdirSync(join(outside, "sub"), { recursive: true });
  writeFileSync(join(outside, "keep"), "x");
  writeFileSync(join(outside, "sub/keep"), "x");

  const d = await createJobDirs({ parent: join(parent, "jobs"), jobKey: "j" });
  mkdirSync(join(d.temp, "_github_workflow/deep/er"), { recursive: true });
  writeFileSync(join(d.temp, "_github_workflow/deep/er/event.json"), "{}");
  symlinkSync(outside, join(d.temp, "_github_workflow/deep/link-to-outside"));
  symlinkSync(join(outside, "sub"), join(d.workspace, "sub-link"));
  mkdirSync(join(d.home, "ro/inner"), { recursive: true });
  writeFileSync(join(d.home, "ro/inner/f"), "x");
  chmodSync(join(d.home, "ro"), 0o500);
  rmSync(d.toolCache, { recursive: true });
  symlinkSync(outside, d.toolCache);
  await removeJobDirs(d, undefined, { unsandboxed: true });

  assert.equal(existsSync(d.root), false, "the job root is gone");
  assert.deepEqual(readdirSync(outside).sort(), ["keep", "sub"], "nothing outside the job root was touched");
  assert.deepEqual(readdirSync(join(outside, "sub")), ["keep"]);
  assert.deepEqual(readdirSync(join(parent, "jobs")), []);
});

test("without a job uid, nothing below a mount left in the job root is removed (bind mount of the same device, tmpfs)", { skip: process.getuid?.() !== 0 ? "needs root to mount" : false }, async (t) => {
  const parent = mkdtempSync(join(tmpdir(), "nr-jobdirs-"));
  const outside = join(parent, "outside");
  mkdirSync(join(outside, "sub"), { recursive: true });
  writeFileSync(join(outside, "keep"), "x");
  writeFileSync(join(outside, "sub/keep"), "x");
  const mounts: string[] = [];
  t.after(() => {
    for (const m of mounts.reverse()) spawnSync("umount", ["-l", m]);
    rmSync(parent, { recursive: true, force: true });
  });
  for (const unsandboxed of [true, false]) {
    const d = await createJobDirs({ parent: join(parent, "jobs"), jobKey: `j-${unsandboxed}` });
    const bind = join(d.workspace, "chroot/host");
    const tmpfs = join(d.temp, "chroot/proc");
    mkdirSync(bind, { recursive: true });
    mkdirSync(tmpfs, { recursive: true });
    execFileSync("mount", ["--bind", outside, bind]);
    mounts.push(bind);
    execFileSync("mount", ["-t", "tmpfs", "none", tmpfs]);
    mounts.push(tmpfs);
    writeFileSync(join(tmpfs, "in-tmpfs"), "x");
    await assert.rejects(removeJobDirs(d, undefined, { unsandboxed }), /is mounted inside the job's directory/);
    assert.deepEqual(readdirSync(outside).sort(), ["keep", "sub"], "the bind-mounted directory was not emptied");
    assert.deepEqual(readdirSync(join(outside, "sub")), ["keep"]);
    assert.deepEqual(readdirSync(tmpfs), ["in-tmpfs"], "the tmpfs was not emptied");
  }
});

test("isolation none: a tree larger than what is removed synchronously is removed whole, links inside it not followed", async (t) => {
  const parent = mkdtempSync(join(tmpdir(), "nr-jobdirs-"));
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  const outside = join(parent, "outside");
  mkdirSync(outside);
  writeFileSync(join(outside, "keep"), "x");
  const d = await createJobDirs({ parent: join(parent, "jobs"), jobKey: "j" });
  // 40 directories of 25 files: several times the synchronous budget, so the removal goes on asynchronously.
  for (let i = 0; i < 40; i++) {
    const sub = join(d.workspace, `node_modules/p${i}`);
    mkdirSync(sub, { recursive: true });
    for (let k = 0; k < 25; k++) writeFileSync(join(sub, `f${k}`), "x");
    symlinkSync(outside, join(sub, "link-to-outside"));
  }
  // And one directory holding more names than the budget by itself.
  mkdirSync(join(d.temp, "flat"));
  for (let k = 0; k < 1000; k++) writeFileSync(join(d.temp, "flat", `f${k}`), "");
  await removeJobDirs(d, undefined, { unsandboxed: true });
  assert.equal(existsSync(d.root), false, "the job root is gone");
  assert.deepEqual(readdirSync(outside), ["keep"], "nothing outside the job root was touched");
});
