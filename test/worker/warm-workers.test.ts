// A job worker started ahead of its task (src/worker/warm-workers.ts), on the plain backend and, as root, on
// uid+bwrap with raw cgroups: the next task takes a worker that was running before the task existed, its steps
// get the task's crash marker, and an idle, killed or closed-down waiting worker leaves nothing behind.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readlink, rm } from "node:fs/promises";
import { join } from "node:path";
import type { JobEvent, LogEvent } from "../../src/engine/events.js";
import type { JobRequest } from "../../src/engine/job-request.js";
import type { HostBackend } from "../../src/host/sandbox.js";
import { PlainBackend } from "../../src/host/plain-backend.js";
import { runJobInWorker, type WorkerCommand } from "../../src/worker/index.js";
import { WarmWorkers } from "../../src/worker/warm-workers.js";
import { markJobProcesses } from "../../src/daemon/job-marker.js";
import { withJobNix } from "../../src/nix/job-nix.js";
import { testWorkerCommand } from "../helpers/worker-command.js";
import { PARENT_START_STEP, ticksSinceBoot, waitUntil } from "../daemon/harness.js";
import { backendFor, isRoot, makeFixture, missingFeature, type Fixture } from "../host/fixture.js";

const request = (jobKey: string, steps: string): JobRequest => ({
  jobKey,
  workflowYaml: `on: push\njobs:\n  j:\n    runs-on: native\n    steps:\n${steps}`,
  context: { repository: "o/r", event_name: "push", event: {} },
  secrets: {},
  vars: {},
  needs: {},
});

/** Pids whose working directory is below `dir`. */
async function processesIn(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const e of await readdir("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const cwd = await readlink(`/proc/${e}/cwd`).catch(() => "");
    if (cwd.startsWith(`${dir}/`)) out.push(Number(e));
  }
  return out;
}

const warmRoots = async (workdir: string) => (await readdir(workdir).catch(() => [] as string[])).filter((n) => n.startsWith("waiting-"));

const backends: { name: string; make(): Promise<{ host: HostBackend; workdir: string; cleanup(): Promise<void> }>; skip(): Promise<string | false> }[] = [
  {
    name: "plain",
    skip: async () => false,
    async make() {
      const dir = await mkdtemp("/var/tmp/nr-warm-test-");
      const workdir = join(dir, "jobs");
      return { host: new PlainBackend(workdir), workdir, cleanup: () => rm(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: "uid+bwrap/raw",
    skip: async () => (isRoot ? ((await missingFeature("uid+bwrap", "raw")) ?? false) : "needs root"),
    async make() {
      const fx: Fixture = await makeFixture();
      const { backend } = await backendFor(fx, { isolation: "uid+bwrap", cgroups: "raw", uid_range: { start: 3_710_000, count: 10 } });
      return { host: backend, workdir: fx.workdir, cleanup: () => fx.cleanup() };
    },
  },
];

for (const b of backends) {
  describe(`a job worker started ahead of its task (${b.name})`, { skip: await b.skip() }, () => {
    let worker: WorkerCommand;
    let env: { host: HostBackend; workdir: string; cleanup(): Promise<void> };
    before(async () => {
      worker = await testWorkerCommand();
      env = await b.make();
    });
    after(() => env.cleanup());

    /** One task the way the daemon runs it: Nix and crash-marker wrappers around the (warm) backend. */
    async function task(warm: WarmWorkers, key: string, steps: string) {
      const events: JobEvent[] = [];
      const host = markJobProcesses(
        withJobNix(warm.host, { repository: "o/r", ref: "refs/heads/main", runId: "1", jobId: key }, { nixConfig: "", log: () => {} }),
        `marker-${key}`,
      );
      const outcome = await runJobInWorker(request(key, steps), { emit: (e) => events.push(e), signal: new AbortController().signal, host, worker });
      const text = events.filter((e): e is LogEvent => e.type === "log").map((e) => e.line).join("\n");
      return { outcome, text };
    }

    it("the next task takes a worker that was running before it arrived; its steps carry the task's marker", async () => {
      const warm = new WarmWorkers(env.host, { worker, keepMs: 60_000 });
      try {
        const first = await task(warm, "one", "      - run: echo first\n");
        assert.equal(first.outcome.result, "success", first.text);
        await waitUntil(() => warm.ready, 20_000, "a waiting worker");
        // Give it time to boot: a worker started for the task could not be older than the task.
        await new Promise((r) => setTimeout(r, 300));
        const asked = ticksSinceBoot();
        const second = await task(warm, "two", PARENT_START_STEP);
        assert.equal(second.outcome.result, "success", second.text);
        const m = /parent-start=(\d+) marker=(\S*)/.exec(second.text);
        assert.ok(m, second.text);
        assert.ok(Number(m[1]) < asked, `the step's worker started at tick ${m[1]}, the task at ${asked}`);
        assert.equal(m[2], "marker-two");
        // The taken sandbox is gone with its job; the next task's worker waits in a new one.
        await waitUntil(() => warm.ready, 20_000, "the next waiting worker");
        assert.equal((await warmRoots(env.workdir)).length, 1);
      } finally {
        await warm.close();
      }
      assert.deepEqual(await warmRoots(env.workdir), [], "close() removes the waiting worker's sandbox");
    });

    it("an idle runner holds no waiting worker: it is stopped after keepMs and its sandbox removed", async () => {
      const warm = new WarmWorkers(env.host, { worker, keepMs: 1500 });
      try {
        const r = await task(warm, "idle", "      - run: true\n");
        assert.equal(r.outcome.result, "success", r.text);
        await waitUntil(() => warm.ready, 20_000, "a waiting worker");
        const [root] = await warmRoots(env.workdir);
        assert.ok(root);
        assert.notDeepEqual(await processesIn(join(env.workdir, root)), [], "the waiting worker runs in its sandbox");
        await waitUntil(() => !warm.ready, 10_000, "the idle worker to stop");
        await waitUntil(async () => (await warmRoots(env.workdir)).length === 0, 10_000, "its sandbox to be removed");
        assert.deepEqual(await processesIn(join(env.workdir, root)), []);
      } finally {
        await warm.close();
      }
    });

    it("a waiting worker killed from outside is not handed out: the next task starts its own", async () => {
      const warm = new WarmWorkers(env.host, { worker, keepMs: 60_000 });
      try {
        assert.equal((await task(warm, "k1", "      - run: true\n")).outcome.result, "success");
        await waitUntil(() => warm.ready, 20_000, "a waiting worker");
        const [root] = await warmRoots(env.workdir);
        await waitUntil(async () => (await processesIn(join(env.workdir, root!))).length > 0, 20_000, "the worker process");
        for (const pid of await processesIn(join(env.workdir, root!))) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // gone with one killed before it (bubblewrap's --die-with-parent)
          }
        }
        const r = await task(warm, "k2", "      - run: echo after-the-kill\n");
        assert.equal(r.outcome.result, "success", r.text);
        assert.match(r.text, /after-the-kill/);
      } finally {
        await warm.close();
      }
      assert.deepEqual(await warmRoots(env.workdir), []);
    });
  });
}
