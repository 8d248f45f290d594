import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TaskSpool, findOrphans, type SpoolMeta } from "../../src/daemon/spool.js";

const meta = (pid: number): SpoolMeta => ({
  connection: "default", taskId: "42", repository: "o/r", job: "build", stepCount: 2,
  startedAt: new Date().toISOString(), daemonPid: pid, processGroups: [123],
});

test("rows are journaled, read back from any index, and survive a torn write", async () => {
  const root = mkdtempSync(join(tmpdir(), "nr-spool-"));
  const sp = await TaskSpool.create(root, "default-42", meta(process.pid));
  const t0 = new Date(1_700_000_000_000);
  const rows = Array.from({ length: 1000 }, (_, i) => ({ time: new Date(t0.getTime() + i), content: `line ${i} ✓ "q"\\n` }));
  assert.equal(sp.append(rows.slice(0, 10)), 0);
  assert.equal(sp.append(rows.slice(10)), 10);
  sp.sync();
  assert.equal(sp.rows, 1000);
  assert.deepEqual(sp.read(0, 3), rows.slice(0, 3));
  assert.deepEqual(sp.read(998, 10), rows.slice(998));
  assert.deepEqual(sp.read(1000, 10), []);
  // byte cap keeps at least one row
  assert.equal(sp.read(5, 100, 10).length, 1);

  await sp.setAck(600);
  assert.equal(await sp.ack(), 600);
  assert.deepEqual(sp.read(599, 1), [], "rows below the ack are forgotten");
  assert.deepEqual(sp.read(600, 2), rows.slice(600, 602));
  assert.ok(sp.backlogBytes() > 0);
  await sp.writeState({ result: "failure", steps: [{ id: 0 }] });
  sp.close();

  // a crash left half a line behind
  appendFileSync(join(root, "default-42", "rows"), '{"t":1,"c":"tor');
  const again = await TaskSpool.open(join(root, "default-42"));
  assert.equal(again.rows, 1000);
  assert.equal(await again.ack(), 600);
  assert.deepEqual((await again.readState())?.result, "failure");
  assert.deepEqual(again.read(999, 5), rows.slice(999));
  assert.equal(again.append([{ time: t0, content: "after restart" }]), 1000);
  assert.equal(again.read(1000, 1)[0]!.content, "after restart");
  assert.equal((await again.meta()).taskId, "42");
  await again.remove();
  assert.equal(existsSync(join(root, "default-42")), false);
});

test("orphans are the spools of other daemon processes", async () => {
  const root = mkdtempSync(join(tmpdir(), "nr-spool-"));
  (await TaskSpool.create(root, "a-1", meta(process.pid))).close();
  (await TaskSpool.create(root, "a-2", meta(999_999))).close();
  assert.deepEqual(await findOrphans(root), [join(root, "a-2")]);
  assert.deepEqual(await findOrphans(join(root, "missing")), []);
});

test("a full filesystem: the journal keeps whole rows, the row store reports it once and keeps later rows in memory", async (t) => {
  const { execFileSync } = await import("node:child_process");
  const { rmSync } = await import("node:fs");
  const { SpoolRowStore } = await import("../../src/daemon/row-store.js");
  if (process.getuid?.() !== 0) return t.skip("needs root to mount a tmpfs");
  const dir = mkdtempSync(join(tmpdir(), "nr-spool-full-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", dir]);
  t.after(() => {
    execFileSync("umount", ["-l", dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  const sp = await TaskSpool.create(dir, "default-42", meta(process.pid));
  const failures: unknown[] = [];
  const store = new SpoolRowStore(sp, { writeBatchRows: 1, windowRows: 50, onJournalFailed: (e) => failures.push(e) });
  const row = (i: number) => ({ time: new Date(1_700_000_000_000 + i), content: `row ${i} ${"x".repeat(1000)}` });
  const total = 600; // ~600 KB: more than the filesystem holds
  for (let i = 0; i < total; i++) store.append([row(i)]);
  store.sync();
  assert.equal(failures.length, 1);
  assert.equal((failures[0] as NodeJS.ErrnoException).code, "ENOSPC");
  assert.ok(sp.rows > 0 && sp.rows < total, `journaled ${sp.rows}`);
  assert.equal(store.count, total);
  // Every row can still be read, journaled ones from disk and the rest from memory, in order.
  const got: string[] = [];
  for (let from = 0; from < total; ) {
    const batch = store.read(from, 100, 1 << 20);
    assert.ok(batch.length > 0, `stuck at ${from}`);
    got.push(...batch.map((r) => r.content));
    from += batch.length;
  }
  assert.deepEqual(got, Array.from({ length: total }, (_, i) => row(i).content));
  // The journal on disk is whole lines: reopened, it holds exactly the journaled rows.
  const journaled = sp.rows;
  sp.close();
  const again = await TaskSpool.open(join(dir, "default-42"));
  assert.equal(again.rows, journaled);
  assert.deepEqual(again.read(journaled - 1, 1)[0]?.content, row(journaled - 1).content);
  again.close();
});
