// One job must not stall the daemon for the others: while a job registers
// 20,000 masks, or hashFiles() reads a 30 GB sparse file, a trivial job
// enqueued next to it is picked up and completes, and /healthz keeps
// answering. Bounds are liveness bounds (tens of seconds), not latency
// figures: those are in bench/hostile-load.ts. hashFiles() through a symlink
// must also not hash a file the job itself cannot read.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  MASKS_STEP, SANDBOX_BACKENDS, SPARSE_STEPS, hostJob, label, logText, makeBase, skipReason, startRunner, type Backend, type HostileRunner,
} from "./harness.js";

/** Per-request bound for /healthz: the event loop must never be blocked this long. */
const HEALTH_BOUND_MS = 10_000;
const LIVENESS_MS = 120_000;

interface Liveness {
  done: boolean;
  result?: string;
  log: string;
  healthSamples: number;
  healthFailures: string[];
}

/** Runs a trivial job next to whatever is running; /healthz is polled until it is done. */
async function trivialJobAlongside(r: HostileRunner): Promise<Liveness> {
  const mark = `TRIVIAL-${randomBytes(4).toString("hex")}`;
  const failures: string[] = [];
  let samples = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const res = await r.healthz(HEALTH_BOUND_MS);
      samples++;
      if (res !== 200) failures.push(String(res));
      await new Promise((s) => setTimeout(s, 250));
    }
  })();
  const { jobId } = r.emu.enqueue({ workflow: hostJob(`      - run: echo ${mark}\n`) });
  try {
    const job = await r.emu.waitForJobDone(jobId, LIVENESS_MS).catch(() => undefined);
    return {
      done: job !== undefined,
      ...(job?.result !== undefined ? { result: job.result } : {}),
      log: job ? logText(job) : "",
      healthSamples: samples,
      healthFailures: failures,
    };
  } finally {
    polling = false;
    await poller;
  }
}

async function waitForLog(r: HostileRunner, jobId: number, text: string, timeoutMs = 120_000): Promise<void> {
  await r.emu.waitFor(() => (r.emu.job(jobId)?.logRows.some((l) => l.includes(text)) ? true : undefined), timeoutMs);
}

let backend: Backend = { isolation: "none", cgroups: "none" };
for (const b of SANDBOX_BACKENDS) {
  if ((await skipReason(b)) === false) {
    backend = b;
    break;
  }
}

describe(`hostile: one job against the daemon's liveness (${label(backend)})`, { skip: await skipReason(backend) }, () => {
  // A runner per case: a daemon one attack brought down must not fail the other case.
  let r: HostileRunner | undefined;
  after(async () => {
    await r?.close();
  });
  const fresh = async () => {
    await r?.close();
    r = await startRunner({ ...backend, capacity: 3 });
    return r;
  };
  const tail = (r: HostileRunner) => (r.daemon.alive() ? "" : `exited: ${r.daemon.child.exitCode ?? r.daemon.child.signalCode}\n`) + r.daemon.output().split("\n").filter((l) => !/"level":(20|30)/.test(l)).join("\n").slice(-3000);

  it("20,000 ::add-mask:: lines: another job completes, /healthz answers, the daemon keeps reporting", async () => {
    const r = await fresh();
    const { jobId } = r.emu.enqueue({ workflow: hostJob(MASKS_STEP) });
    // Let the masks start to arrive.
    await waitForLog(r, jobId, "##[group]Run");
    const live = await trivialJobAlongside(r);
    const masker = live.done ? await r.emu.waitForJobDone(jobId, LIVENESS_MS).catch(() => undefined) : undefined;
    if (!masker) r.emu.cancel(jobId);
    assert.deepEqual(
      { trivialDone: live.done, trivialResult: live.result, healthFailures: live.healthFailures.length, daemonAlive: r.daemon.alive(), maskingJobDone: masker !== undefined },
      { trivialDone: true, trivialResult: "success", healthFailures: 0, daemonAlive: true, maskingJobDone: true },
      `${live.healthSamples} /healthz samples, failures: ${[...new Set(live.healthFailures)].join("; ")}\ntrivial job log:\n${live.log}\n--- daemon:\n${tail(r)}`,
    );
  });

  it("hashFiles() of a 30 GB sparse file: another job completes, /healthz answers", async () => {
    const r = await fresh();
    const { jobId } = r.emu.enqueue({ workflow: hostJob(SPARSE_STEPS) });
    await waitForLog(r, jobId, "SPARSE-READY");
    const live = await trivialJobAlongside(r);
    r.emu.cancel(jobId);
    assert.deepEqual(
      { trivialDone: live.done, trivialResult: live.result, healthFailures: live.healthFailures.length, daemonAlive: r.daemon.alive() },
      { trivialDone: true, trivialResult: "success", healthFailures: 0, daemonAlive: true },
      `${live.healthSamples} /healthz samples, failures: ${[...new Set(live.healthFailures)].join("; ")}\ntrivial job log:\n${live.log}\n--- daemon:\n${tail(r)}`,
    );
  });
});

const sandboxed = SANDBOX_BACKENDS.find((b) => backend === b);
describe("hostile: hashFiles() through a symlink out of the workspace", {
  skip: sandboxed ? false : "needs a sandboxing backend (uid or bwrap): without one the job reads the file itself",
}, () => {
  let r: HostileRunner;
  let base: string;
  let secretFile: string;
  let secret: string;
  before(async () => {
    base = await makeBase();
    // Root-only, and in host.hidden_paths: neither a job uid nor a job under bubblewrap can read it.
    const hidden = join(base, "root-only");
    await mkdir(hidden, { mode: 0o700 });
    await chmod(hidden, 0o700);
    secret = `ROOTONLY${randomBytes(16).toString("hex")}\n`;
    secretFile = join(hidden, "key");
    await writeFile(secretFile, secret, { mode: 0o600 });
    r = await startRunner({ ...sandboxed!, capacity: 2, base, hidden: [hidden] });
  });
  after(async () => {
    await r?.close();
    const { rm } = await import("node:fs/promises");
    await rm(base, { recursive: true, force: true });
  });

  it("does not hash a root-only file the job links to", async () => {
    const [linked, copied] = await Promise.all([
      r.emu.waitForJobDone(r.emu.enqueue({
        workflow: hostJob(`      - run: |
          ln -s ${secretFile} link.txt
          cat link.txt || echo "job cannot read it"
      - run: echo "hash=\${{ hashFiles('link.txt') }}"
`),
      }).jobId, LIVENESS_MS),
      // What hashFiles() gives for that content in a regular file of the workspace.
      r.emu.waitForJobDone(r.emu.enqueue({
        workflow: hostJob(`      - run: printf '%s\\n' "$CONTENT" > copy.txt
      - run: echo "hash=\${{ hashFiles('copy.txt') }}"
`, `    env:\n      CONTENT: ${secret.trim()}\n`),
      }).jobId, LIVENESS_MS),
    ]);
    const hashOf = (log: string) => /^hash=(\S*)$/m.exec(log)?.[1];
    const copyHash = hashOf(logText(copied));
    assert.ok(copyHash && /^[0-9a-f]{64}$/.test(copyHash), `control hash: ${logText(copied)}`);
    assert.match(logText(linked), /job cannot read it/, "the job itself cannot read the file");
    assert.ok(!logText(linked).includes(secret.trim()), "the secret is not in the log");
    assert.notEqual(hashOf(logText(linked)), copyHash, `hashFiles() hashed ${secretFile} for the job:\n${logText(linked)}`);
  });
});
