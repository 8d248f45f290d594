// The reporter's row stores: the spool-backed one keeps a fixed window in
// memory and reads older unacknowledged rows back from the journal.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryRowStore, SpoolRowStore } from "../../src/daemon/row-store.js";
import { TaskSpool } from "../../src/daemon/spool.js";

const row = (i: number) => ({ time: new Date(1_700_000_000_000 + i), content: `row ${i} ${"x".repeat(i % 50)}` });

test("spool store: a bounded window in memory, older unacknowledged rows from disk, in order", async () => {
  const root = mkdtempSync(join(tmpdir(), "nr-rowstore-"));
  const spool = await TaskSpool.create(root, "c-1", {
    connection: "c", taskId: "1", repository: "o/r", job: "j", stepCount: 1, startedAt: new Date().toISOString(), daemonPid: process.pid,
  });
  const store = new SpoolRowStore(spool, { windowRows: 100, writeBatchRows: 1 });
  const N = 5000;
  for (let i = 0; i < N; i++) store.append([row(i)]);
  assert.equal(store.count, N);
  assert.equal(spool.rows, N, "every row is journaled as it arrives");
  assert.equal(store.heldRows, 100, "memory holds only the window");
  // read everything back from 0 in batches, as the reporter does while the server catches up
  const got: string[] = [];
  let at = 0;
  while (at < N) {
    const batch = store.read(at, 700, 1 << 20);
    assert.ok(batch.length > 0);
    got.push(...batch.map((r) => r.content));
    at += batch.length;
    store.acknowledge(at);
  }
  assert.deepEqual(got, Array.from({ length: N }, (_, i) => row(i).content));
  await store.flushAck();
  assert.equal(await spool.ack(), N);
  assert.equal(store.backlogBytes(), 0);
  await spool.remove();
});

test("spool store: rows are journaled at the end of the turn that appended them, and before any read", async () => {
  const root = mkdtempSync(join(tmpdir(), "nr-rowstore-"));
  const spool = await TaskSpool.create(root, "c-2", {
    connection: "c", taskId: "2", repository: "o/r", job: "j", stepCount: 1, startedAt: new Date().toISOString(), daemonPid: process.pid,
  });
  const store = new SpoolRowStore(spool, { writeBatchRows: 1000 });
  for (let i = 0; i < 10; i++) store.append([row(i)]);
  assert.equal(spool.rows, 0, "one write for the turn, not one per row");
  await new Promise((res) => setImmediate(res));
  assert.equal(spool.rows, 10);
  store.append([row(10)]);
  assert.equal(store.read(10, 5, 1 << 20)[0]?.content, row(10).content);
  assert.equal(spool.rows, 11, "a read journals what it returns first");
  for (let i = 11; i < 1011; i++) store.append([row(i)]);
  assert.equal(spool.rows, 1011, "a full batch is written at once");
  await spool.remove();
});

test("memory store: rows below the ack are dropped; reads are bounded by count and bytes", () => {
  const store = new MemoryRowStore();
  for (let i = 0; i < 10; i++) store.append([row(i)]);
  assert.equal(store.read(3, 2, 1 << 20).map((r) => r.content).join("|"), `${row(3).content}|${row(4).content}`);
  assert.equal(store.read(0, 10, 1).length, 1, "at least one row");
  store.acknowledge(6);
  assert.equal(store.count, 10);
  assert.deepEqual(store.read(5, 10, 1 << 20), [], "acknowledged rows are gone");
  assert.equal(store.read(6, 10, 1 << 20).length, 4);
});
