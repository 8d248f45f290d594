// The protocol client against the emulator over real HTTP.

import { test } from "node:test";
import assert from "node:assert/strict";
import { startEmulator } from "../emulator/index.js";
import {
  Code, ConnectError, clientTimeoutFromEnv, createForgejoClient, isUnregisteredRunner,
} from "../../src/protocol/index.js";
import { workflow } from "./harness.js";

test("ping, register (no auth headers), declare and fetch (auth headers), both codecs", async () => {
  const emu = await startEmulator();
  try {
    for (const codec of ["proto", "json"] as const) {
      const anon = createForgejoClient({ baseUrl: emu.url, codec });
      assert.equal((await anon.ping("runner")).data, "Hello, runner!");
      const reg = await anon.register({ name: `r-${codec}`, token: emu.createRegistrationToken(), version: "v1", labels: ["native"] });
      assert.equal(reg.runner!.name, `r-${codec}`);
      assert.match(reg.runner!.token, /^[0-9a-f]{40}$/);
      const regRecord = emu.requests().filter((r) => r.rpc.endsWith("Register")).at(-1)!;
      assert.equal(regRecord.runnerUuid ?? "", "", "Register carries no runner uuid");

      const c = createForgejoClient({ baseUrl: emu.url, codec, uuid: reg.runner!.uuid, token: reg.runner!.token });
      const dec = await c.declare("v2", ["native", "other"]);
      assert.deepEqual(dec.runner!.labels, ["native", "other"]);
      const res = await c.fetchTask(0n, { requestKey: "k-1", timeoutMs: 5000 });
      assert.equal(res.task, undefined);
      assert.ok(res.tasksVersion > 0n);
      const rec = emu.requests().filter((r) => r.rpc.endsWith("FetchTask")).at(-1)!;
      assert.equal(rec.runnerUuid, reg.runner!.uuid);
      assert.equal(rec.requestKey, "k-1");
      assert.ok(rec.contentType.startsWith(codec === "proto" ? "application/proto" : "application/json"));
      assert.ok(c.lastContactAt > 0);
    }
  } finally {
    await emu.stop();
  }
});

test("task_capacity travels over JSON even from a binary client; additional tasks arrive", async () => {
  const emu = await startEmulator();
  try {
    const reg = await createForgejoClient({ baseUrl: emu.url }).register({ name: "r", token: emu.createRegistrationToken(), labels: ["native"] });
    const c = createForgejoClient({ baseUrl: emu.url, codec: "proto", uuid: reg.runner!.uuid, token: reg.runner!.token });
    for (let i = 0; i < 3; i++) emu.enqueue({ workflow: workflow(`      - run: echo ${i}\n`) });
    const res = await c.fetchTask(0n, { requestKey: "multi", timeoutMs: 5000, capacity: 3 });
    const rec = emu.requests().filter((r) => r.rpc.endsWith("FetchTask")).at(-1)!;
    assert.ok(rec.contentType.startsWith("application/json"), rec.contentType);
    assert.ok(res.task);
    assert.equal(1 + res.additionalTasks.length, 3);
    // a payload of 3 tasks with contexts is large: it came back gzip-compressed and was read
    assert.ok(res.additionalTasks.every((t) => (t.workflowPayload?.length ?? 0) > 0));
    const single = await c.fetchTask(0n, { requestKey: "single", timeoutMs: 5000, capacity: 1 });
    assert.equal(single.task, undefined);
    const rec2 = emu.requests().filter((r) => r.rpc.endsWith("FetchTask")).at(-1)!;
    assert.ok(rec2.contentType.startsWith("application/proto"));
  } finally {
    await emu.stop();
  }
});

test("unknown runner: unauthenticated, and old servers' unknown + 'unregistered runner'", async () => {
  for (const legacyErrors of [false, true]) {
    const emu = await startEmulator({ legacyErrors });
    try {
      const c = createForgejoClient({ baseUrl: emu.url, uuid: "8f7c2b1e-3c4d-4e5f-9a0b-1c2d3e4f5a6b", token: "0".repeat(40) });
      const err = await c.fetchTask(0n, { requestKey: "k", timeoutMs: 5000 }).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof ConnectError);
      assert.equal(err.code, legacyErrors ? Code.Unknown : Code.Unauthenticated);
      assert.equal(isUnregisteredRunner(err), true);
    } finally {
      await emu.stop();
    }
  }
});

test("per-call timeouts and FORGEJO_CLIENT_TIMEOUT", async () => {
  const emu = await startEmulator();
  try {
    emu.faults.add({ rpc: "Ping", kind: "latency", latencyMs: 1500 });
    const c = createForgejoClient({ baseUrl: emu.url });
    const started = Date.now();
    const err = await c.ping("x", { timeoutMs: 300 }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ConnectError);
    assert.equal(err.code, Code.DeadlineExceeded);
    assert.ok(Date.now() - started < 1400);
  } finally {
    emu.faults.clear();
    await emu.stop();
  }
  assert.equal(clientTimeoutFromEnv({}), 60_000);
  assert.equal(clientTimeoutFromEnv({ FORGEJO_CLIENT_TIMEOUT: "15" }), 15_000);
  assert.equal(clientTimeoutFromEnv({ FORGEJO_CLIENT_TIMEOUT: "nonsense" }), 60_000);
});

test("an answer over maxAnswerBytes is refused while it streams in, naming runner.fetch_max_size", async () => {
  const emu = await startEmulator();
  try {
    for (const codec of ["proto", "json"] as const) {
      const reg = await createForgejoClient({ baseUrl: emu.url, codec }).register({ name: `big-${codec}`, token: emu.createRegistrationToken(), version: "v1", labels: ["native"] });
      const c = createForgejoClient({ baseUrl: emu.url, codec, uuid: reg.runner!.uuid, token: reg.runner!.token, maxAnswerBytes: 1024 * 1024 });
      emu.enqueue({ workflow: workflow("      - run: echo big\n") });
      emu.faults.add({ rpc: "FetchTask", kind: "oversize", count: 1, bytes: 64 * 1024 * 1024 });
      const err = await c.fetchTask(0n, { requestKey: `k-big-${codec}`, timeoutMs: 30_000 }).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof ConnectError, String(err));
      assert.equal(err.code, Code.ResourceExhausted);
      assert.match(err.rawMessage, /runner\.fetch_max_size/);
      // The same request key gets the task again once the answer fits.
      const again = await c.fetchTask(0n, { requestKey: `k-big-${codec}`, timeoutMs: 30_000 });
      assert.ok(again.task, codec);
    }
  } finally {
    await emu.stop();
  }
});
