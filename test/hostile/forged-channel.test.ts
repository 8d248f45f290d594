// A job runs as the same user as its worker. Its stdout is a socket, so
// /proc/<worker>/fd/1 cannot be opened (ENXIO), but where the job may ptrace
// its worker (same uid, no Yama restriction) pidfd_getfd copies that
// descriptor (probes/chanfd.c), and the step writes channel lines of its own:
// garbage, a line of 100 MB, a `done` that claims success after a failed step
// (with the worker killed, or left to send its real one), a log event around
// the worker's masker. The daemon must stay up, only that job may be
// affected, and a failed job must not be reported as a success.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import {
  SANDBOX_BACKENDS, compileProbe, hostJob, label, logText, makeBase, noCompiler, runWorkflow, skipReason, startRunner,
  type HostileRunner,
} from "./harness.js";

const event = (line: string) =>
  JSON.stringify({ type: "event", event: { type: "log", time: new Date(0).toISOString(), line, stage: "step", stepIndex: 1 } });
const DONE_SUCCESS = JSON.stringify({ type: "done", outcome: { result: "success", outputs: {} } });

/** The probe could not reach the channel: the attack is impossible on this host (e.g. Yama ptrace_scope >= 1). */
const BLOCKED = /chanfd: pidfd_getfd/;

for (const backend of SANDBOX_BACKENDS) {
  const skip = (await skipReason(backend)) || noCompiler();
  describe(`hostile: forged worker channel (${label(backend)})`, { skip }, () => {
    let r: HostileRunner;
    let base: string;
    let chanfd: string;
    before(async () => {
      base = await makeBase();
      await mkdir(join(base, "probes"), { mode: 0o755 });
      chanfd = await compileProbe("chanfd", join(base, "probes"), false);
      r = await startRunner({ ...backend, cache: false, capacity: 2, base });
    });
    after(async () => {
      await r?.close();
      await rm(base, { recursive: true, force: true });
    });

    /** The daemon is alive and runs a trivial job next. */
    async function daemonStillWorks(): Promise<void> {
      assert.ok(r.daemon.alive(), "daemon alive");
      const next = await runWorkflow(r, hostJob("      - run: echo next job\n"));
      assert.equal(next.result, "success", logText(next));
    }

    /** Runs steps; whether the probe reached the channel, and the job. */
    async function attack(steps: string, opts: Parameters<typeof runWorkflow>[2] = {}) {
      const job = await runWorkflow(r, hostJob(steps), opts);
      return { job, log: logText(job), reached: !BLOCKED.test(logText(job)) };
    }

    it("garbage on the channel fails that job only", async () => {
      const { job, log, reached } = await attack(`      - run: |
          echo 'this is not a channel message' | ${chanfd} 2>&1
          sleep 2
`);
      assert.equal(job.result, "failure", log);
      if (reached) assert.match(log, /invalid message/);
      await daemonStillWorks();
    });

    it("a 100 MB line fails that job only", async () => {
      const { job, log, reached } = await attack(`      - run: |
          { head -c 100000000 /dev/zero | tr '\\0' x; echo; } | ${chanfd} 2>&1
          sleep 2
`);
      assert.equal(job.result, "failure", log);
      // Over the limit, or cut by a line of the worker's own in between: stopped either way.
      if (reached) assert.match(log, /size limit|invalid message/);
      await daemonStillWorks();
    });

    it("a forged `done` claiming success, then the worker killed: the failed job is reported failed", async () => {
      const { job, log } = await attack(`      - run: exit 1
      - if: always()
        run: |
          echo '${DONE_SUCCESS}' | ${chanfd} kill 2>&1
          sleep 5
`);
      assert.equal(job.result, "failure", log);
      await daemonStillWorks();
    });

    it("a forged `done` claiming success, the worker left to finish: the failed job is reported failed", async () => {
      const { job, log } = await attack(`      - run: exit 1
      - if: always()
        run: echo '${DONE_SUCCESS}' | ${chanfd} 2>&1
`);
      assert.equal(job.result, "failure", log);
      await daemonStillWorks();
    });

    it("a forged log event: a row like any the job prints; the runner's secrets stay out of reach", async () => {
      const secret = `S3CRET${randomBytes(8).toString("hex")}`;
      const { job, log, reached } = await attack(
        `      - run: |
          echo "masked: $MY_SECRET"
        env:
          MY_SECRET: \${{ secrets.MY_SECRET }}
      - run: printf '%s\\n' '${event("forged row")}' | ${chanfd} 2>&1 || true
`,
        { secrets: { MY_SECRET: secret } },
      );
      assert.ok(log.includes("masked: ***"), log);
      if (reached) assert.ok(job.logRows.includes("forged row"), log);
      assert.equal(job.result, "success", log);
      assert.deepEqual(r.leaked(log), []);
      await daemonStillWorks();
    });
  });
}
