import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RunnerMetrics } from "../../src/observability/metrics.js";
import { startObservabilityServer, parseAddr } from "../../src/observability/http-server.js";
import { SdNotifier } from "../../src/observability/sd-notify.js";
import { StatusTracker, readStatus, formatStatus } from "../../src/observability/status.js";

test("/metrics exposes the runner's metrics and /healthz follows health", async () => {
  const m = new RunnerMetrics({ defaultMetrics: false });
  m.capacity.set(4);
  m.running.set(2);
  m.jobs.inc({ result: "success", label: "native" });
  m.fetchErrors.inc({ code: "unavailable" });
  let health = { ok: true, reason: undefined as string | undefined };
  const srv = await startObservabilityServer("127.0.0.1:0", m, () => health);
  try {
    const body = await (await fetch(`${srv.url}/metrics`)).text();
    assert.match(body, /native_runner_capacity 4/);
    assert.match(body, /native_runner_running_jobs 2/);
    assert.match(body, /native_runner_jobs_total\{result="success",label="native"\} 1/);
    assert.match(body, /native_runner_fetch_errors_total\{code="unavailable"\} 1/);
    for (const name of ["native_runner_log_spool_backlog_bytes", "native_runner_nix_gcroots", "native_runner_cache_requests_total", "native_runner_pickup_latency_seconds"]) {
      assert.ok(body.includes(name), name);
    }
    let r = await fetch(`${srv.url}/healthz`);
    assert.equal(r.status, 200);
    health = { ok: false, reason: "no contact with https://forgejo.example for 95s" };
    r = await fetch(`${srv.url}/healthz`);
    assert.equal(r.status, 503);
    assert.match(await r.text(), /no contact/);
    assert.equal((await fetch(`${srv.url}/nope`)).status, 404);
  } finally {
    await srv.close();
  }
  assert.deepEqual(parseAddr("127.0.0.1:9101"), { host: "127.0.0.1", port: 9101 });
  assert.deepEqual(parseAddr("[::1]:80"), { host: "::1", port: 80 });
  assert.throws(() => parseAddr("nonsense"), /metrics.addr/);
});

const hasNotify = spawnSync("systemd-notify", ["--help"]).status === 0;
const hasPython = spawnSync("python3", ["--version"]).status === 0;

test("sd_notify datagrams reach NOTIFY_SOCKET", { skip: hasNotify && hasPython ? false : "systemd-notify or python3 missing" }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "nr-notify-"));
  const sock = join(dir, "notify.sock");
  const receiver = join(dir, "recv.py");
  writeFileSync(receiver, [
    "import socket, sys",
    "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); s.settimeout(10)",
    "print('bound', flush=True)",
    "while True:",
    "    m = s.recv(4096).decode().replace('\\n', '|'); print(m, flush=True)",
  ].join("\n"));
  const py = spawn("python3", [receiver, sock, "3"], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  py.stdout.on("data", (c: Buffer) => (out += c.toString()));
  while (!out.includes("bound")) await new Promise((r) => setTimeout(r, 20));
  const n = new SdNotifier({ NOTIFY_SOCKET: sock, WATCHDOG_USEC: "200000", PATH: process.env.PATH });
  assert.equal(await n.ready("polling 1 connection"), true);
  n.startWatchdog(() => true);
  while (!out.includes("WATCHDOG=1")) await new Promise((r) => setTimeout(r, 20));
  n.stopWatchdog();
  assert.equal(await n.stopping("shutting down"), true);
  while (!out.includes("STOPPING=1")) await new Promise((r) => setTimeout(r, 20));
  py.kill();
  await new Promise((r) => py.once("close", r));
  // systemd-notify follows each message with a BARRIER=1 synchronisation datagram
  const msgs = out.trim().split("\n").slice(1).filter((m) => m !== "BARRIER=1");
  assert.equal(msgs[0], "READY=1|STATUS=polling 1 connection");
  assert.equal(msgs[1], "WATCHDOG=1");
  assert.equal(msgs.at(-1), "STOPPING=1|STATUS=shutting down");
  assert.ok(msgs.slice(1, -1).every((m) => m === "WATCHDOG=1"));
  // without NOTIFY_SOCKET nothing is sent
  assert.equal(await new SdNotifier({}).ready(), false);
});

test("behind nix/sd-notify-exec.pl the daemon's own pid sends every notification (NotifyAccess=main)", { skip: hasPython ? false : "python3 missing" }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "nr-notify-fd-"));
  const sock = join(dir, "notify.sock");
  const py = spawn("python3", ["-c", [
    "import json, socket, struct, sys",
    "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1); s.bind(sys.argv[1])",
    "print(json.dumps({'pid': 0, 'text': 'bound'}), flush=True)",
    "while True:",
    "    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))",
    "    pid = [struct.unpack('3i', d[:12])[0] for (l, k, d) in anc if l == socket.SOL_SOCKET and k == socket.SCM_CREDENTIALS]",
    "    print(json.dumps({'pid': pid[0] if pid else -1, 'text': msg.decode()}), flush=True)",
  ].join("\n"), sock], { stdio: ["ignore", "pipe", "inherit"] });
  const got: { pid: number; text: string }[] = [];
  let buf = "";
  py.stdout.on("data", (c: Buffer) => {
    buf += c.toString();
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      got.push(JSON.parse(buf.slice(0, i)) as { pid: number; text: string });
      buf = buf.slice(i + 1);
    }
  });
  try {
    while (got.length === 0) await new Promise((r) => setTimeout(r, 20));
    const script = [
      `import { SdNotifier } from ${JSON.stringify(join(import.meta.dirname, "../../src/observability/sd-notify.ts"))};`,
      "const n = new SdNotifier(process.env, '/nonexistent/systemd-notify');",
      "if (!(await n.ready('up'))) process.exit(3);",
      "if (!(await n.stopping('bye'))) process.exit(4);",
    ].join("\n");
    // Only the descriptor the wrapper hands over can work here: the systemd-notify fallback does not exist.
    const child = spawn("perl", [join(import.meta.dirname, "../../nix/sd-notify-exec.pl"), process.execPath, "--import", "tsx", "--input-type=module", "-e", script], {
      env: { PATH: "/usr/bin:/bin", NOTIFY_SOCKET: sock }, stdio: ["ignore", "inherit", "inherit"],
    });
    const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    assert.equal(code, 0);
    while (got.length < 3) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(got.slice(1), [{ pid: child.pid, text: "READY=1\nSTATUS=up" }, { pid: child.pid, text: "STOPPING=1\nSTATUS=bye" }]);
  } finally {
    py.kill();
  }
});

test("status file round trip and rendering", async () => {
  const file = join(mkdtempSync(join(tmpdir(), "nr-status-")), "status.json");
  const t = new StatusTracker(file, 4, "0.1.0");
  t.contact("default", "https://forgejo.example/");
  t.jobStarted({ taskId: "42", connection: "default", repository: "torjus/nixos", job: "build" });
  t.connectionError("other", "https://b.example/", "unavailable: connect ECONNREFUSED");
  await t.write();
  const st = await readStatus(file);
  assert.equal(st.running.length, 1);
  const text = formatStatus(st, true);
  assert.match(text, /jobs: 1\/4/);
  assert.match(text, /task 42 +torjus\/nixos +build/);
  assert.match(text, /error: unavailable: connect ECONNREFUSED/);
  t.jobFinished("42");
  await t.write();
  assert.equal((await readStatus(file)).running.length, 0);
  assert.match(formatStatus(st, false), /NOT RUNNING/);
});
