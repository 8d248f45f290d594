import { test } from "node:test";
import assert from "node:assert/strict";
import { Poller, effectiveFetchInterval } from "../../src/daemon/poller.js";
import { Supervisor } from "../../src/daemon/supervisor.js";
import { silentLogger } from "../../src/observability/logger.js";
import { Code, ConnectError, isUnregisteredRunner, type Task } from "../../src/protocol/index.js";
import { FakeServer } from "./fake-client.js";

const log = silentLogger();

function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const check = () => {
      if (cond()) return resolve();
      if (Date.now() - start > timeoutMs) return reject(new Error("condition not met in time"));
      setTimeout(check, 5);
    };
    check();
  });
}

interface Harness {
  server: FakeServer;
  sup: Supervisor;
  poller: Poller;
  received: Task[];
  /** Finish the running task with this id. */
  finish(id: number): void;
}

function harness(opts: { capacity?: number; multiTask?: boolean; intervalMs?: number; server?: FakeServer; maxSilenceMs?: number } = {}): Harness {
  const server = opts.server ?? new FakeServer();
  const sup = new Supervisor({ capacity: opts.capacity ?? 1, taskTimeoutMs: 0, shutdownTimeoutMs: 0, log });
  const received: Task[] = [];
  const finishers = new Map<number, () => void>();
  const poller = new Poller({
    name: "test",
    client: server.client(),
    supervisor: sup,
    fetchIntervalMs: opts.intervalMs ?? 30,
    fetchTimeoutMs: 1000,
    labels: ["native"],
    version: "test",
    log,
    multiTask: opts.multiTask,
    maxSilenceMs: opts.maxSilenceMs,
    onTask: (task) => {
      received.push(task);
      void sup.start(`t${task.id}`, () => new Promise<void>((resolve) => finishers.set(Number(task.id), resolve)), { reserved: true });
    },
  });
  return { server, sup, poller, received, finish: (id) => finishers.get(id)?.() };
}

test("declares, follows tasks_version, resets it to 0 after a task", async () => {
  const h = harness();
  const run = h.poller.run();
  await until(() => h.server.calls.filter((c) => c.rpc === "FetchTask").length >= 3);
  assert.deepEqual(h.server.declared, [{ version: "test", labels: ["native"] }]);
  const fetches = () => h.server.calls.filter((c) => c.rpc === "FetchTask");
  assert.equal(fetches()[0]!.tasksVersion, 0n);
  assert.equal(fetches()[1]!.tasksVersion, 1n); // learned from the first answer
  h.server.enqueueTask(1);
  await until(() => h.received.length === 1);
  const n = fetches().length;
  h.finish(1);
  // the slot freed: the next fetch asks with version 0 (forced scan)
  await until(() => fetches().length > n);
  assert.equal(fetches()[n]!.tasksVersion, 0n);
  h.poller.stop();
  await run;
});

test("request key: reused after an error, rotated after a success", async () => {
  const h = harness();
  let failNext = 0;
  h.server.failBefore = (rpc) => rpc === "FetchTask" && failNext-- > 0;
  h.server.dropAfter = () => false;
  const run = h.poller.run();
  await until(() => h.server.calls.filter((c) => c.rpc === "FetchTask").length >= 2);
  // lose the answer that carries a task: the same key must bring it back
  h.server.enqueueTask(5);
  let dropped = false;
  h.server.dropAfter = (rpc) => {
    if (rpc === "FetchTask" && !dropped && h.server.assignedByKey.size > 0) {
      dropped = true;
      return true;
    }
    return false;
  };
  await until(() => h.received.length === 1);
  assert.equal(dropped, true);
  assert.equal(h.received[0]!.id, 5n);
  const keys = h.server.calls.filter((c) => c.rpc === "FetchTask").map((c) => c.requestKey);
  const assignKey = [...h.server.assignedByKey.keys()][0]!;
  const i = keys.indexOf(assignKey);
  assert.equal(keys[i + 1], assignKey, "the key is reused after the lost answer");
  assert.equal(new Set(keys.slice(0, i)).size, i, "keys rotate after successful answers");
  h.finish(5);
  h.poller.stop();
  await run;
});

test("capacity is shared and reserved; every task received runs, additional_tasks included", async () => {
  const h = harness({ capacity: 3, multiTask: true });
  for (let i = 1; i <= 4; i++) h.server.enqueueTask(i);
  const run = h.poller.run();
  await until(() => h.received.length === 3);
  const capCalls = h.server.calls.filter((c) => c.rpc === "FetchTask");
  assert.equal(capCalls[0]!.capacity, 3);
  assert.equal(h.sup.runningCount, 3);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(h.received.length, 3, "no fetch while full");
  h.finish(2);
  await until(() => h.received.length === 4);
  assert.equal(h.received[3]!.id, 4n);
  for (const id of [1, 3, 4]) h.finish(id);
  h.poller.stop();
  await run;
});

test("a slot freeing up triggers an immediate fetch, not one fetch_interval later", async () => {
  const h = harness({ capacity: 1, intervalMs: 60_000 });
  h.server.enqueueTask(1);
  const run = h.poller.run();
  await until(() => h.received.length === 1);
  h.server.enqueueTask(2);
  h.finish(1);
  await until(() => h.received.length === 2, 3000);
  h.finish(2);
  h.poller.stop();
  await run;
});

test("old servers: Declare unimplemented is tolerated; unauthenticated stops the poller", async () => {
  const h = harness();
  h.server.declareError = new ConnectError("not found", Code.Unimplemented);
  const run = h.poller.run();
  await until(() => h.server.calls.some((c) => c.rpc === "FetchTask"));
  h.poller.stop();
  await run;

  const h2 = harness();
  h2.server.declareError = new ConnectError("unregistered runner", Code.Unauthenticated);
  await h2.poller.run();
  assert.equal(h2.poller.isStopped, true);
  assert.equal(h2.server.calls.filter((c) => c.rpc === "FetchTask").length, 0);

  // old servers' spelling of the same error
  assert.equal(isUnregisteredRunner(new ConnectError("rpc error: code = Unauthenticated desc = unregistered runner", Code.Unknown)), true);
  assert.equal(isUnregisteredRunner(new ConnectError("boom", Code.Unknown)), false);
  assert.equal(isUnregisteredRunner(new ConnectError("x", Code.Unavailable)), false);
});

test("codeberg gets at least 30 s between fetches", () => {
  assert.equal(effectiveFetchInterval("https://codeberg.org/", 2000), 30_000);
  assert.equal(effectiveFetchInterval("https://ci.codeberg.org", 45_000), 45_000);
  assert.equal(effectiveFetchInterval("https://forgejo.example/", 2000), 2000);
  assert.equal(effectiveFetchInterval("https://notcodeberg.org/", 2000), 2000);
});

test("all slots busy and nothing else talking: the poller still contacts the server", async () => {
  const h = harness({ capacity: 1, maxSilenceMs: 150 });
  h.server.enqueueTask(1);
  const run = h.poller.run();
  await until(() => h.received.length === 1);
  const declaresBefore = h.server.calls.filter((c) => c.rpc === "Declare").length;
  await new Promise((r) => setTimeout(r, 700));
  const calls = h.server.calls.filter((c) => c.rpc === "Declare").length - declaresBefore;
  assert.ok(calls >= 2, `keep-alive calls while full: ${calls}`);
  assert.equal(h.server.calls.filter((c) => c.rpc === "FetchTask" && c.at > Date.now() - 600).length, 0, "no fetch while full");
  h.finish(1);
  h.poller.stop();
  await run;
});

test("tasks that arrive only in additional_tasks (Forgejo 14.0.0 bug) still run", async () => {
  const h = harness({ capacity: 2, multiTask: true });
  h.server.additionalOnly = true;
  h.server.enqueueTask(1);
  h.server.enqueueTask(2);
  const run = h.poller.run();
  await until(() => h.received.length === 2);
  assert.deepEqual(h.received.map((t) => t.id), [1n, 2n]);
  h.finish(1);
  h.finish(2);
  h.poller.stop();
  await run;
});
