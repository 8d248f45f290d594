import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport } from "@connectrpc/connect-node";
import { PingResponseSchema } from "../../src/protocol/gen/ping/v1/messages_pb.js";
import { FetchTaskRequestSchema, FetchTaskResponseSchema, LogRowSchema } from "../../src/protocol/gen/runner/v1/messages_pb.js";
import { PingService } from "../../src/protocol/gen/ping/v1/services_pb.js";
import { RunnerService } from "../../src/protocol/gen/runner/v1/services_pb.js";
import { type Emulator, TEST_TLS_CERT, startEmulator } from "./index.js";
import { SIMPLE_WORKFLOW, pingClient, rawPost, registerRunner, runnerClient } from "./test-helpers.js";

async function connectError(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  assert.fail("expected a Connect error");
}

/** A raw HTTP/1.1 POST that shows the bytes and headers exactly as sent. */
function rawHttp(
  emu: Emulator,
  path: string,
  body: Buffer,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${emu.url}${path.replace(/^\//, "")}`, { method: "POST", headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("Connect transport details", () => {
  let emu: Emulator;
  before(async () => {
    emu = await startEmulator();
  });
  after(() => emu.stop());

  it("speaks proto and JSON, with protojson conventions on output", async () => {
    const creds = await registerRunner(emu, { labels: ["t1"] });
    const headers = { "x-runner-uuid": creds.uuid, "x-runner-token": creds.token };
    let res = await rawPost(emu, "runner.v1.RunnerService/FetchTask", "{}", { ...headers, "Content-Type": "application/json" });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^application\/json/);
    const empty = (await res.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(empty), ["tasksVersion"]);
    assert.equal(typeof empty.tasksVersion, "string");

    emu.enqueue({ workflow: SIMPLE_WORKFLOW("t1") });
    // snake_case input and unknown fields are accepted
    res = await rawPost(emu, "runner.v1.RunnerService/FetchTask", '{"tasks_version":"0","task_capacity":1,"bogus":true}', {
      ...headers,
      "Content-Type": "application/json; charset=utf-8",
    });
    assert.equal(res.status, 200);
    const withTask = (await res.json()) as { task: { id: string; workflowPayload: string } };
    assert.equal(typeof withTask.task.id, "string");
    assert.match(Buffer.from(withTask.task.workflowPayload, "base64").toString(), /^name: ci\n"on": push\n/);

    // binary {tasks_version: 7} is the two bytes 08 07
    const bin = toBinary(FetchTaskRequestSchema, create(FetchTaskRequestSchema, { tasksVersion: 7n }));
    assert.deepEqual([...bin], [8, 7]);
    res = await rawPost(emu, "runner.v1.RunnerService/FetchTask", bin, { ...headers, "Content-Type": "application/proto" });
    assert.equal(res.headers.get("content-type"), "application/proto");
    const decoded = fromBinary(FetchTaskResponseSchema, new Uint8Array(await res.arrayBuffer()));
    assert.ok(decoded.tasksVersion > 0n);
  });

  it("rejects bad content types, empty JSON, GET, unknown paths; errors are JSON", async () => {
    let res = await rawPost(emu, "ping.v1.PingService/Ping", "{}", { "Content-Type": "text/plain" });
    assert.equal(res.status, 415);
    res = await rawPost(emu, "ping.v1.PingService/Ping", "", { "Content-Type": "application/json" });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, "invalid_argument");
    assert.match(body.message, /zero-length payload is not a valid JSON object/);
    res = await rawPost(emu, "ping.v1.PingService/Ping", new Uint8Array(0), { "Content-Type": "application/proto" });
    assert.equal(res.status, 200, "an empty binary body is a valid message");
    assert.equal(fromBinary(PingResponseSchema, new Uint8Array(await res.arrayBuffer())).data, "Hello, !");
    res = await fetch(`${emu.url}api/actions/ping.v1.PingService/Ping`);
    assert.equal(res.status, 405);
    for (const path of ["api/actions/runner.v1.RunnerService/Nope", "api/actions/other", "nothing"]) {
      res = await fetch(`${emu.url}${path}`, { method: "POST", headers: { "Content-Type": "application/proto" }, body: "" });
      assert.equal(res.status, 404, path);
      assert.equal(await res.text(), "404 page not found\n");
    }
    res = await rawPost(emu, "runner.v1.RunnerService/Declare", new Uint8Array(0), { "Content-Type": "application/proto" });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.deepEqual(await res.json(), { code: "unauthenticated", message: "unregistered runner" });
    res = await rawPost(emu, "ping.v1.PingService/Ping", "{}", { "Content-Type": "application/json", "Content-Encoding": "br" });
    assert.equal(((await res.json()) as { code: string }).code, "unimplemented");
  });

  it("gzips responses of 1 KiB or more when accepted, and accepts gzip bodies", async () => {
    const creds = await registerRunner(emu, { labels: ["gz"] });
    const headers = { "x-runner-uuid": creds.uuid, "x-runner-token": creds.token, "Content-Type": "application/json" };
    const small = await rawHttp(emu, "api/actions/runner.v1.RunnerService/FetchTask", Buffer.from("{}"), {
      ...headers,
      "Accept-Encoding": "gzip",
    });
    assert.equal(small.headers["content-encoding"], undefined, "small bodies are not compressed");
    emu.enqueue({ workflow: SIMPLE_WORKFLOW("gz") });
    const big = await rawHttp(emu, "api/actions/runner.v1.RunnerService/FetchTask", gzipSync('{"tasksVersion":"0"}'), {
      ...headers,
      "Accept-Encoding": "gzip",
      "Content-Encoding": "gzip",
    });
    assert.equal(big.status, 200);
    assert.equal(big.headers["content-encoding"], "gzip");
    const json = JSON.parse(gunzipSync(big.body).toString()) as { task: { id: string } };
    assert.ok(json.task.id);
    emu.enqueue({ workflow: SIMPLE_WORKFLOW("gz") });
    const plain = await rawHttp(emu, "api/actions/runner.v1.RunnerService/FetchTask", Buffer.from("{}"), headers);
    assert.equal(plain.headers["content-encoding"], undefined, "not compressed without Accept-Encoding");
    assert.ok(JSON.parse(plain.body.toString()).task);

    // A real Connect client sending gzip request bodies, binary.
    emu.enqueue({ workflow: SIMPLE_WORKFLOW("gz") });
    const client = createClient(
      RunnerService,
      createConnectTransport({
        baseUrl: `${emu.url}api/actions`,
        httpVersion: "1.1",
        sendCompression: compressionGzip,
        compressMinBytes: 0,
        interceptors: [
          (next) => (req) => {
            req.header.set("x-runner-uuid", creds.uuid);
            req.header.set("x-runner-token", creds.token);
            return next(req);
          },
        ],
      }),
    );
    const res = await client.fetchTask({ tasksVersion: 0n });
    assert.ok(res.task);
    const ack = await client.updateLog({
      taskId: res.task.id,
      index: 0n,
      rows: [create(LogRowSchema, { content: "zipped", time: timestampFromMs(Date.now()) })],
    });
    assert.equal(ack.ackIndex, 1n);
  });
});

describe("https", () => {
  it("serves Connect over TLS with its self-signed certificate", async () => {
    const emu = await startEmulator({ tls: true });
    try {
      assert.match(emu.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
      const transport = (nodeOptions: Record<string, unknown>) =>
        createConnectTransport({ baseUrl: `${emu.url}api/actions`, httpVersion: "1.1", nodeOptions });
      const trusted = createClient(PingService, transport({ ca: TEST_TLS_CERT }));
      assert.equal((await trusted.ping({ data: "tls" })).data, "Hello, tls!");
      const insecure = createClient(PingService, transport({ rejectUnauthorized: false }));
      assert.equal((await insecure.ping({ data: "insecure" })).data, "Hello, insecure!");
      const verifying = createClient(PingService, transport({}));
      await connectError(verifying.ping({ data: "x" }));
    } finally {
      await emu.stop();
    }
  });
});

describe("older server versions", () => {
  it("can lack Declare, FetchSingleTask, task_capacity and request keys", async () => {
    const emu = await startEmulator({
      features: { declare: false, fetchSingleTask: false, taskCapacity: false, requestKey: false },
    });
    try {
      const creds = await registerRunner(emu, { labels: ["old"] });
      const key = randomUUID();
      const client = runnerClient(emu, { creds, json: true, requestKey: key });
      assert.equal((await connectError(client.declare({ version: "1", labels: [] }))).code, Code.Unimplemented);
      const single = await rawPost(emu, "runner.v1.RunnerService/FetchSingleTask", "{}", {
        "Content-Type": "application/json",
        "x-runner-uuid": creds.uuid,
        "x-runner-token": creds.token,
      });
      assert.equal(single.status, 404);
      emu.enqueue({ workflow: SIMPLE_WORKFLOW("old") });
      emu.enqueue({ workflow: SIMPLE_WORKFLOW("old") });
      emu.enqueue({ workflow: SIMPLE_WORKFLOW("old") });
      const first = await client.fetchTask({ tasksVersion: 0n, taskCapacity: 2n });
      assert.ok(first.task);
      assert.equal(first.additionalTasks.length, 0, "capacity ignored");
      const second = await client.fetchTask({ tasksVersion: 0n });
      assert.ok(second.task);
      assert.notEqual(second.task.id, first.task.id, "same key is not a recovery");
    } finally {
      await emu.stop();
    }
  });
});

describe("fault injection", () => {
  let emu: Emulator;
  before(async () => {
    emu = await startEmulator();
  });
  after(() => emu.stop());

  it("drops, resets and answers 5xx for matching RPCs only, as many times as asked", async () => {
    const ping = pingClient(emu);
    for (const kind of ["drop", "reset", "http5xx"] as const) {
      emu.faults.add({ rpc: "Ping", kind, count: 1 });
      const err = await connectError(ping.ping({ data: kind }));
      if (kind === "http5xx") assert.equal(err.code, Code.Unavailable);
      assert.equal((await ping.ping({ data: "again" })).data, "Hello, again!", `${kind} used up`);
    }
    emu.faults.add({ rpc: "FetchTask", kind: "http5xx" });
    assert.equal((await ping.ping({ data: "p" })).data, "Hello, p!", "other RPCs unaffected");
    emu.faults.add({ kind: "drop", probability: 0 });
    assert.equal((await ping.ping({ data: "p" })).data, "Hello, p!", "probability 0 never fires");
    emu.faults.clear();
    assert.deepEqual(emu.faults.list(), []);
    const records = emu.requests().filter((r) => r.rpc === "ping.v1.PingService/Ping");
    assert.deepEqual(
      records.filter((r) => r.fault).map((r) => r.fault),
      ["drop", "reset", "http5xx"],
    );
  });

  it("adds latency before processing", async () => {
    emu.faults.add({ rpc: "ping.v1.PingService/Ping", kind: "latency", latencyMs: 300, count: 1 });
    const t0 = Date.now();
    assert.equal((await pingClient(emu).ping({ data: "slow" })).data, "Hello, slow!");
    assert.ok(Date.now() - t0 >= 290, "the delay was applied");
  });

  it("drop-response processes the call: the lost task is recovered by request key", async () => {
    const label = `dr-${randomUUID().slice(0, 8)}`;
    const creds = await registerRunner(emu, { labels: [label] });
    const { jobId } = emu.enqueue({ workflow: SIMPLE_WORKFLOW(label) });
    emu.faults.add({ rpc: "FetchTask", kind: "drop-response", count: 1 });
    const key = randomUUID();
    const client = runnerClient(emu, { creds, requestKey: key });
    await connectError(client.fetchTask({ tasksVersion: 0n }));
    const view = emu.job(jobId)!;
    assert.equal(view.status, "running", "the task was assigned although the answer was lost");
    const firstToken = view.task!.token;
    const res = await client.fetchTask({ tasksVersion: 0n });
    assert.equal(Number(res.task!.id), view.taskId);
    assert.equal(res.tasksVersion, 0n);
    assert.notEqual((res.task!.context as { token: string }).token, firstToken);
    assert.equal(emu.isTaskTokenValid(firstToken), false);
    const fetches = emu.requests().filter((r) => r.rpc.endsWith("/FetchTask") && r.requestKey === key);
    assert.deepEqual(fetches.map((r) => [r.fault, r.taskIds]), [["drop-response", [view.taskId]], [undefined, [view.taskId]]]);
  });

  it("validates rules", () => {
    assert.throws(() => emu.faults.add({ kind: "explode" as never }));
    assert.throws(() => emu.faults.add({ kind: "drop", probability: 2 }));
  });
});

describe("snapshot, restart and the HTTP control API", () => {
  it("restarts on the same port with the same state", async () => {
    const emu = await startEmulator();
    const creds = await registerRunner(emu, { labels: ["snap"] });
    const regToken = emu.createRegistrationToken();
    const { jobId } = emu.enqueue({ workflow: SIMPLE_WORKFLOW("snap") });
    const client = runnerClient(emu, { creds });
    const task = (await client.fetchTask({ tasksVersion: 0n })).task!;
    await client.updateLog({ taskId: task.id, index: 0n, rows: [create(LogRowSchema, { content: "before", time: timestampFromMs(Date.now()) })] });
    const snap = JSON.parse(JSON.stringify(emu.snapshot()));
    const port = emu.port;
    await emu.stop();
    await connectError(client.updateLog({ taskId: task.id, index: 1n, rows: [] }));

    const again = await startEmulator({ port, state: snap });
    try {
      assert.equal(again.url, emu.url);
      const c2 = runnerClient(again, { creds });
      const ack = await c2.updateLog({ taskId: task.id, index: 1n, rows: [create(LogRowSchema, { content: "after", time: timestampFromMs(Date.now()) })] });
      assert.equal(ack.ackIndex, 2n);
      assert.deepEqual(again.job(jobId)!.logRows, ["before", "after"]);
      assert.ok(again.isTaskTokenValid((task.context as { token: string }).token));
      const ctx = task.context as { gitea_runtime_token: string };
      assert.ok(again.verifyRuntimeToken(ctx.gitea_runtime_token), "same signing secret");
      const reg = await runnerClient(again).register({ name: "n", token: regToken, labels: ["x"] });
      assert.ok(reg.runner!.uuid);
    } finally {
      await again.stop();
    }
  });

  it("offers the control API over HTTP", async () => {
    const emu = await startEmulator();
    try {
      const post = async (path: string, body?: unknown) => {
        const r = await fetch(`${emu.url}_emulator/${path}`, { method: "POST", body: JSON.stringify(body ?? {}) });
        assert.equal(r.status, 200, `${path}: ${await r.clone().text()}`);
        return r.json() as Promise<Record<string, unknown>>;
      };
      const get = async (path: string) => (await fetch(`${emu.url}_emulator/${path}`)).json() as Promise<Record<string, unknown>>;
      const { token } = (await post("registration-tokens", { repo: "x/y" })) as { token: string };
      const reg = await runnerClient(emu).register({ name: "h", token, labels: ["http"] });
      const creds = { uuid: reg.runner!.uuid, token: reg.runner!.token };
      const { jobId } = (await post("jobs", { workflow: SIMPLE_WORKFLOW("http"), repo: "x/y" })) as { jobId: number };
      assert.equal((await get(`jobs/${jobId}`)).status, "waiting");
      const client = runnerClient(emu, { creds });
      const task = (await client.fetchTask({ tasksVersion: 0n })).task!;
      const tokenCheck = await post("task-tokens/check", { token: (task.context as { token: string }).token });
      assert.equal(tokenCheck.valid, true);
      const waiting = get(`jobs/${jobId}/wait?timeoutMs=5000`);
      await post(`jobs/${jobId}/cancel`);
      const done = await waiting;
      assert.equal(done.result, "cancelled");
      assert.equal(((await get(`tasks/${task.id}`)) as { status: string }).status, "cancelled");
      await post("faults", { rpc: "Ping", kind: "http5xx" });
      assert.equal((await (await fetch(`${emu.url}_emulator/faults`)).json() as unknown[]).length, 1);
      await fetch(`${emu.url}_emulator/faults`, { method: "DELETE" });
      assert.equal(emu.faults.list().length, 0);
      const runners = (await (await fetch(`${emu.url}_emulator/runners`)).json()) as { repo: string }[];
      assert.equal(runners[0]!.repo, "x/y");
      const snap = await get("snapshot");
      assert.equal(snap.version, 1);
      const bad = await fetch(`${emu.url}_emulator/jobs/999`);
      assert.equal(bad.status, 404);
    } finally {
      await emu.stop();
    }
  });

  it("runs standalone from the command line and saves its state on SIGTERM", async () => {
    const dir = mkdtempSync(join(tmpdir(), "emu-cli-"));
    const stateFile = join(dir, "state.json");
    const child = spawn(process.execPath, ["--import", "tsx", "test/emulator/main.ts", "--port", "0", "--state", stateFile], {
      cwd: new URL("../..", import.meta.url).pathname,
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout!.on("data", (c: Buffer) => {
          out += c.toString();
          const m = /listening on (\S+)/.exec(out);
          if (m && /token: [0-9a-f]{40}/.test(out)) resolve(m[1]!);
        });
        child.on("exit", (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      const res = await fetch(`${url}api/actions/ping.v1.PingService/Ping`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: '{"data":"cli"}',
      });
      assert.deepEqual(await res.json(), { data: "Hello, cli!" });
      const exited = new Promise((r) => child.on("exit", r));
      child.kill("SIGTERM");
      await exited;
      const saved = JSON.parse(readFileSync(stateFile, "utf8")) as { registrationTokens: unknown[] };
      assert.equal(saved.registrationTokens.length, 1);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
