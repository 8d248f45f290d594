// The daemon's checks on a container job's calls: whatever the worker (the
// job's uid) sends is validated before the daemon acts on it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ChannelError, decodeFromWorker, encode } from "../../src/worker/channel.js";
import { MAX_CONTEXT_BYTES, serveContainerCalls } from "../../src/worker/container-calls.js";
import type { ExitStatus, JobSandbox, SpawnSpec } from "../../src/host/sandbox.js";
import type { ContainerReply } from "../../src/worker/channel.js";

/** Records what the daemon would run in the container. */
function recordingSandbox(): JobSandbox & { runs: SpawnSpec[] } {
  const runs: SpawnSpec[] = [];
  return {
    runs,
    dirs: { root: "/r", workspace: "/r/w", temp: "/r/t", home: "/r/h", toolCache: "/r/c" },
    baseEnv: {},
    async spawn(spec, h): Promise<ExitStatus> {
      runs.push(spec);
      h.onStdout(Buffer.from("out"));
      return { code: 0, signal: null };
    },
    async killAll() {},
    async dispose() {},
  };
}

const line = (m: object) => encode(m as never).trimEnd();

test("malformed container calls are refused by the decoder", () => {
  for (const bad of [
    { type: "spawn", id: 1, spec: { file: "sh", args: "x", cwd: "/", env: {} } },
    { type: "spawn", id: -1, spec: { file: "sh", args: [], cwd: "/", env: {} } },
    { type: "spawn", id: 1, spec: { file: "sh", args: [], cwd: "/", env: { A: 1 } } },
    { type: "spawn", id: 1, spec: { file: "sh", args: [], cwd: "/", env: {}, image: { image: "a", build: { dockerfile: "D" } } } },
    { type: "spawn", id: 1, spec: { file: "sh", args: [], cwd: "/", env: {}, image: {} } },
    { type: "context", id: 1, data: 5 },
    { type: "kill", id: "1" },
  ]) {
    assert.throws(() => decodeFromWorker(line(bad)), ChannelError, JSON.stringify(bad));
  }
  const ok = decodeFromWorker(line({ type: "spawn", id: 3, spec: { file: "sh", args: ["-c", "true"], cwd: "/w", env: { A: "1" }, extra: 1 } }));
  assert.deepEqual(ok, { type: "spawn", id: 3, spec: { file: "sh", args: ["-c", "true"], cwd: "/w", env: { A: "1" } } });
});

test("a Dockerfile outside the build context is refused; the image tag is the hash of the context", async () => {
  const sb = recordingSandbox();
  const replies: ContainerReply[] = [];
  const calls = serveContainerCalls(sb, (m) => replies.push(m), (why) => assert.fail(why));
  const tar = Buffer.from("tar bytes").toString("base64");
  calls.handle({ type: "context", id: 1, data: tar });
  calls.handle({ type: "spawn", id: 1, spec: { file: "", args: [], cwd: "/w", env: {}, image: { build: { dockerfile: "../../etc/Dockerfile" } } } });
  calls.handle({ type: "spawn", id: 2, spec: { file: "", args: [], cwd: "/w", env: {}, image: { build: { dockerfile: "Dockerfile" } } } });
  calls.handle({ type: "context", id: 3, data: tar });
  calls.handle({ type: "spawn", id: 3, spec: { file: "", args: [], cwd: "/w", env: {}, image: { build: { dockerfile: "Dockerfile" } } } });
  await new Promise((r) => setImmediate(r));
  assert.match(JSON.stringify(replies.find((r) => r.id === 1)), /not inside the action/);
  assert.match(JSON.stringify(replies.find((r) => r.id === 2)), /build context did not arrive/);
  assert.equal(sb.runs.length, 1);
  const build = sb.runs[0]!.image!.build!;
  assert.equal(Buffer.from(build.context as Uint8Array).toString(), "tar bytes");
  assert.match(build.tag, /^native-runner-action-[0-9a-f]{16}:latest$/);
  assert.deepEqual(replies.filter((r) => r.id === 3).map((r) => r.type), ["output", "exit"]);
});

test("a build context over the limit stops the worker", () => {
  const violations: string[] = [];
  const calls = serveContainerCalls(recordingSandbox(), () => {}, (why) => violations.push(why));
  const chunk = Buffer.alloc(16 * 1024 * 1024).toString("base64");
  for (let i = 0; i <= MAX_CONTEXT_BYTES / (16 * 1024 * 1024); i++) calls.handle({ type: "context", id: 1, data: chunk });
  assert.equal(violations.length, 1);
  assert.match(violations[0]!, /build context is over/);
});
