import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Emulator, startEmulator } from "./index.js";
import { pingClient, registerRunner, runnerClient } from "./test-helpers.js";

async function connectError(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  assert.fail("expected a Connect error");
}

describe("registration, declare, auth", () => {
  let emu: Emulator;
  before(async () => {
    emu = await startEmulator();
  });
  after(() => emu.stop());

  it("answers Ping on both codecs", async () => {
    assert.equal((await pingClient(emu).ping({ data: "bin" })).data, "Hello, bin!");
    assert.equal((await pingClient(emu, true).ping({ data: "json" })).data, "Hello, json!");
  });

  it("registers with a reusable token and returns a 40-hex token and a v4 uuid", async () => {
    const token = emu.createRegistrationToken();
    const client = runnerClient(emu);
    const a = await client.register({ name: "r1", token, version: "1.2.3", labels: ["native", "linux"], ephemeral: true });
    const b = await client.register({ name: "r2", token, version: "1.2.3", labels: ["x"] });
    assert.match(a.runner!.token, /^[0-9a-f]{40}$/);
    assert.match(a.runner!.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.notEqual(a.runner!.uuid, b.runner!.uuid);
    assert.deepEqual(a.runner!.labels, ["native", "linux"]);
    assert.equal(a.runner!.name, "r1");
    assert.equal(a.runner!.version, "1.2.3");
    assert.equal(a.runner!.ephemeral, true);
    assert.ok(a.runner!.id > 0n);
    const view = emu.runners().find((r) => r.uuid === a.runner!.uuid)!;
    assert.equal(view.ephemeral, true);
  });

  it("rejects missing fields, unknown and rotated tokens with the spec's messages", async () => {
    const client = runnerClient(emu);
    let err = await connectError(client.register({ name: "", token: "x" }));
    assert.equal(err.code, Code.InvalidArgument);
    assert.equal(err.rawMessage, "missing runner token, name");
    err = await connectError(client.register({ name: "n", token: "nope" }));
    assert.equal(err.rawMessage, "runner registration token not found");

    const old = emu.createRegistrationToken({ owner: "org1" });
    const repoToken = emu.createRegistrationToken({ repo: "org1/app" });
    const newer = emu.createRegistrationToken({ owner: "org1" });
    err = await connectError(client.register({ name: "n", token: old }));
    assert.equal(err.code, Code.InvalidArgument);
    assert.equal(err.rawMessage, "runner registration token has been invalidated, please use the latest one");
    // A token of another scope is not rotated by it.
    const okRepo = await client.register({ name: "n", token: repoToken, labels: ["a"] });
    const okOwner = await client.register({ name: "n", token: newer, labels: ["a"] });
    const views = emu.runners();
    assert.equal(views.find((r) => r.uuid === okRepo.runner!.uuid)!.repo, "org1/app");
    assert.equal(views.find((r) => r.uuid === okOwner.runner!.uuid)!.owner, "org1");
  });

  it("truncates names to 255 bytes", async () => {
    const token = emu.createRegistrationToken();
    const res = await runnerClient(emu).register({ name: "n".repeat(300), token });
    assert.equal(res.runner!.name.length, 255);
  });

  it("authenticates with uuid+token and replaces labels on Declare", async () => {
    const creds = await registerRunner(emu, { labels: ["a", "b"] });
    const client = runnerClient(emu, { creds });
    const res = await client.declare({ version: "9.9.9", labels: ["c"] });
    assert.deepEqual(res.runner!.labels, ["c"]);
    assert.equal(res.runner!.token, "");
    assert.equal(res.runner!.version, "9.9.9");
    const view = emu.runners().find((r) => r.uuid === creds.uuid)!;
    assert.deepEqual(view.labels, ["c"]);
    assert.ok(view.lastOnline);
    assert.equal(view.lastActive, undefined);
    assert.equal(view.status, "idle");
    assert.equal(emu.runners().find((r) => r.name === "r1")!.status, "offline", "never called since Register");
  });

  it("answers unauthenticated for a wrong token, an unknown uuid and no headers", async () => {
    const creds = await registerRunner(emu);
    for (const bad of [
      { uuid: creds.uuid, token: "0".repeat(40) },
      { uuid: "00000000-0000-4000-8000-000000000000", token: creds.token },
      undefined,
    ]) {
      const err = await connectError(runnerClient(emu, { creds: bad }).declare({ version: "1", labels: [] }));
      assert.equal(err.code, Code.Unauthenticated);
      assert.equal(err.rawMessage, "unregistered runner");
    }
  });

  it("pre-registers a runner from a secret with the uuid of its first 16 characters as bytes", async () => {
    const secret = "7c31591e8b67225a116d4a4519ea8e507e08f71f";
    const view = emu.preRegisterRunner(secret, "pre", ["native"]);
    assert.equal(view.uuid, "37633331-3539-3165-3862-363732323561");
    const res = await runnerClient(emu, { creds: { uuid: view.uuid, token: secret } }).declare({ version: "1", labels: ["x"] });
    assert.equal(res.runner!.name, "pre");
    assert.throws(() => emu.preRegisterRunner("short", "x"));
  });
});

describe("legacy error mode", () => {
  it("answers errors as unknown/500 with the gRPC-style text", async () => {
    const emu = await startEmulator({ legacyErrors: true });
    try {
      const err = await connectError(
        runnerClient(emu, { creds: { uuid: "x", token: "y" } }).fetchTask({ tasksVersion: 0n }),
      );
      assert.equal(err.code, Code.Unknown);
      assert.equal(err.rawMessage, "rpc error: code = Unauthenticated desc = unregistered runner");
      const res = await fetch(`${emu.url}api/actions/runner.v1.RunnerService/Declare`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: "{}",
      });
      assert.equal(res.status, 500);
      assert.deepEqual(await res.json(), { code: "unknown", message: "rpc error: code = Unauthenticated desc = unregistered runner" });
    } finally {
      await emu.stop();
    }
  });
});
