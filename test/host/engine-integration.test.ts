// A job worker on an isolated backend: a whole job (worker and steps) runs as
// an ephemeral uid inside one bubblewrap sandbox and a cgroup; file commands
// work, an OOM kill fails the job with a clear log line (the worker itself
// survives it), and nothing of the job survives.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { JobEvent, LogEvent } from "../../src/engine/events.js";
import type { JobRequest } from "../../src/engine/job-request.js";
import { runJobInWorker } from "../../src/worker/index.js";
import { testWorkerCommand } from "../helpers/worker-command.js";
import { backendFor, makeFixture, missingFeature, processesWith, type Fixture } from "./fixture.js";

const UID_START = 3_500_000;

function request(yaml: string): JobRequest {
  return {
    jobKey: `int-${randomBytes(3).toString("hex")}`,
    workflowYaml: yaml,
    workflowFile: "ci.yml",
    context: { repository: "torjus/nixos", repository_owner: "torjus", event_name: "push", event: {}, ref: "refs/heads/main", sha: "0".repeat(40), run_id: "1", run_number: "1", run_attempt: "1", workflow: "ci.yml", actor: "torjus", server_url: "http://127.0.0.1:1/", api_url: "http://127.0.0.1:1/api/v1", token: "e4c713ef7e847ee264372ec2872d8072ce05fee0" },
    secrets: {},
    vars: {},
    needs: {},
  };
}

describe("engine on uid+bwrap/raw", async () => {
  const missing = await missingFeature("uid+bwrap", "raw");
  let fx: Fixture;
  before(async () => {
    if (!missing) fx = await makeFixture();
  });
  after(() => fx?.cleanup());

  it("runs steps as a job uid with working file commands, reports an OOM kill and leaves nothing behind", { skip: missing ?? false }, async () => {
    const { backend } = await backendFor(fx, {
      isolation: "uid+bwrap", cgroups: "raw", uid_range: { start: UID_START, count: 5 },
      resources: { memory_max: 192 * 1024 * 1024, cpu_quota: 0, pids_max: 256 },
    });
    const mark = `${5000 + Math.floor(Math.random() * 1000)}.${randomBytes(3).readUIntBE(0, 3)}`;
    const yaml = `
on: push
jobs:
  build:
    runs-on: native
    steps:
      - id: who
        run: |
          echo "uid=$(id -u)" >> "$GITHUB_OUTPUT"
          echo "GREETING=hello" >> "$GITHUB_ENV"
          setsid sleep ${mark} > /dev/null 2>&1 &
      - run: echo "uid ${"${{ steps.who.outputs.uid }}"} greeting $GREETING"
      - run: tail /dev/zero
`;
    const events: JobEvent[] = [];
    const outcome = await runJobInWorker(request(yaml), { emit: (e) => events.push(e), signal: new AbortController().signal, host: backend, worker: await testWorkerCommand() });
    const lines = events.filter((e): e is LogEvent => e.type === "log").map((e) => e.line);
    const text = lines.join("\n");
    assert.equal(outcome.result, "failure", text);
    const m = /uid (\d+) greeting hello/.exec(text);
    assert.ok(m, text);
    assert.ok(Number(m[1]) >= UID_START && Number(m[1]) < UID_START + 5, text);
    assert.match(text, /killed: exceeded memory_max \(201326592 bytes\)/);
    assert.doesNotMatch(text, /job worker exited unexpectedly/);
    assert.deepEqual(await processesWith(mark), []);
  });
});
