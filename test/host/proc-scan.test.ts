import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PlainBackend } from "../../src/host/plain-backend.js";
import { allocatedSince, handedOutAfter, listProcesses, listStartedSince, pidMark, processStart } from "../../src/host/proc-scan.js";
import { spawn } from "node:child_process";
import { childReport, processesWith, run } from "./fixture.js";

test("job end: processes that left the step's process group (job control, orphaned, nested) are killed; the walk finds what a full /proc scan finds", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "nr-procscan-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const host = new PlainBackend(dir);
  const sb = await host.prepareJob({ jobKey: "procscan" });
  const mark = `${40_000 + Math.floor(Math.random() * 9_000)}`;
  try {
    // `set -m`: background jobs get process groups of their own (same session); one forks again and its parent exits.
    const r = await run(sb, `set -m; sleep ${mark}1 & sleep ${mark}2 & (sleep ${mark}3 & exit 0) & sleep 0.2; echo started`);
    assert.match(r.out, /started/);
    const before = [...(await processesWith(`${mark}1`)), ...(await processesWith(`${mark}2`)), ...(await processesWith(`${mark}3`))];
    assert.equal(before.length, 3, "the three sleeps outlived the step");
    const since = Math.min(...before.map((p) => processStart(p)!)) - 1;
    const walked = await listStartedSince(since, () => false);
    if (walked !== undefined) {
      const pids = new Set(walked.map((p) => p.pid));
      for (const p of before) assert.ok(pids.has(p), `the walk found ${p}`);
      const full = (await listProcesses({ uid: false })).filter((p) => p.start >= since && before.includes(p.pid));
      assert.equal(full.length, 3);
    }
  } finally {
    await sb.dispose();
  }
  for (const n of [1, 2, 3]) assert.deepEqual(await processesWith(`${mark}${n}`), [], `sleep ${mark}${n} was killed`);
});

// A runner that is not root, with /proc mounted hidepid=2 (systemd's ProtectProc=invisible), cannot see init or
// any other ancestor it does not own. An orphan of the job's session is adopted by init, so a walk of the
// ancestors' subtrees that stops at the first hidden ancestor missed it, and the job-end sweep left it running.
for (const backend of ["plain", "prepared"]) {
  test(`job end under hidepid=2, non-root runner (${backend} backend): an orphan of the step's session adopted by init is killed`, { skip: process.getuid?.() !== 0 ? "needs root to mount /proc and drop to another uid" : false }, async () => {
    const res = await childReport<{ out: string; mark: string; walkComplete: boolean }>(
      'exec unshare --mount --propagation private sh -c \'mount -t proc -o hidepid=2 proc /proc && exec setpriv --reuid 65534 --regid 65534 --clear-groups -- env HOME=/tmp node --import tsx test/host/hidepid-child.ts "$1"\' sh "$1"',
      [backend],
    );
    assert.match(res.out, /started/);
    const left = await processesWith(res.mark);
    for (const pid of left) process.kill(pid, "SIGKILL");
    assert.deepEqual(left, [], "the orphan outlived the job");
    assert.equal(res.walkComplete, false, "init is hidden: the walk of the ancestors is not complete");
  });
}

// The walk reads one children list per ancestor (the leader thread's, which adopts orphans), but every thread's
// for a job process: a multithreaded program forks from any of its threads.
test("the walk finds a child that a job process forked from one of its other threads", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "nr-procscan-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const host = new PlainBackend(dir);
  const sb = await host.prepareJob({ jobKey: "threads" });
  const mark = `${50_000 + Math.floor(Math.random() * 9_000)}`;
  try {
    const spawner = join(dir, "spawner.cjs");
    await writeFile(
      spawner,
      `const { Worker } = require("node:worker_threads");\nnew Worker('require("node:child_process").spawn("sleep", ["${mark}"], { stdio: "ignore" }); setInterval(() => {}, 1e6)', { eval: true });\n`,
    );
    const r = await run(sb, `node ${spawner} & for i in $(seq 100); do pgrep -f "sleep ${mark}" >/dev/null && break; sleep 0.05; done; echo started`);
    assert.match(r.out, /started/);
    const [sleeper] = await processesWith(mark);
    assert.ok(sleeper, "the worker thread's child runs");
    const parent = Number(/^PPid:\s+(\d+)/m.exec(await readFile(`/proc/${sleeper}/status`, "utf8"))![1]);
    const threads = await readdir(`/proc/${parent}/task`);
    const byThread = await Promise.all(threads.map(async (tid) => ({ tid, kids: (await readFile(`/proc/${parent}/task/${tid}/children`, "latin1")).split(" ") })));
    const owner = byThread.find((x) => x.kids.includes(String(sleeper)));
    assert.ok(owner && owner.tid !== String(parent), "the child's parent is a thread other than the leader (what the test is about)");
    const walked = await listStartedSince(processStart(parent)! - 1, () => false);
    if (walked !== undefined) assert.ok(walked.some((p) => p.pid === sleeper), "the walk found the child of the non-leader thread");
  } finally {
    await sb.dispose();
  }
  assert.deepEqual(await processesWith(mark), [], "the child was killed at job end");
});

test("the pid window: a process started after the mark is in it, the runner's ancestors are not; a mark too far behind gives no window", async () => {
  const mark = pidMark();
  assert.ok(mark, "this host's /proc tells the pid counter");
  const child = spawn("sleep", ["5"], { stdio: "ignore" });
  try {
    const maybeNew = allocatedSince(mark);
    assert.ok(maybeNew, "few forks since the mark: a window");
    assert.equal(maybeNew(child.pid!), true, "the child got its pid after the mark");
    assert.equal(maybeNew(process.pid), false, "this process is older than the mark");
    assert.equal(maybeNew(1), false, "init is older than the mark");
    // As many forks since the mark as there are pids: the counter may have come round past the mark.
    const pidMax = Number(await readFile("/proc/sys/kernel/pid_max", "utf8"));
    assert.equal(allocatedSince({ lastPid: mark.lastPid, forks: mark.forks - pidMax }), undefined);
  } finally {
    child.kill("SIGKILL");
  }
});

test("the pid window's bounds: after the mark up to the counter, and round past pid_max when the counter wrapped", () => {
  const plain = handedOutAfter(100, 200);
  assert.deepEqual([100, 101, 200, 201, 5].map(plain), [false, true, true, false, false]);
  const wrapped = handedOutAfter(32_000, 300);
  assert.deepEqual([32_000, 32_001, 32_767, 2, 300, 301, 31_999].map(wrapped), [false, true, true, true, true, false, false]);
});

test("a full /proc read with a mark reads only the processes started since: a new child is listed, this process is not", async () => {
  const mark = pidMark();
  assert.ok(mark);
  const child = spawn("sleep", ["5"], { stdio: "ignore" });
  try {
    const listed = await listProcesses({ uid: true, mark });
    assert.ok(listed.some((p) => p.pid === child.pid && p.uid === process.getuid!()), "the child is read, with its uid");
    assert.ok(!listed.some((p) => p.pid === process.pid), "this process is older than the mark");
    const all = await listProcesses({ uid: false });
    assert.ok(all.some((p) => p.pid === process.pid), "without a mark every process is read");
  } finally {
    child.kill("SIGKILL");
  }
});
