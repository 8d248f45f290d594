// A FetchTask answer far larger than any real task (300 MiB) must be refused
// while it streams in, not buffered whole: the daemon's peak memory stays
// bounded, it keeps polling, and the next real task runs.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { waitUntil } from "../daemon/harness.js";
import { hostJob, logText, peakRss, skipReason, startRunner, type HostileRunner } from "./harness.js";

const MiB = 1024 * 1024;
const ANSWER = 300 * MiB;
/** Far above an idle daemon's peak (well under 150 MiB), below one copy of the answer. */
const PEAK_BOUND = 256 * MiB;

describe("hostile: an oversized FetchTask answer", { skip: await skipReason({ isolation: "none", cgroups: "none" }) }, () => {
  for (const protocol of ["proto", "json"] as const) {
    describe(protocol, () => {
      let r: HostileRunner;
      before(async () => {
        r = await startRunner({ cache: false, capacity: 1, protocol });
      });
      after(async () => {
        await r?.close();
      });

      it(`is refused without buffering it (${ANSWER / MiB} MiB), and the daemon goes on`, async () => {
        const fetches = () => r.emu.requests().filter((q) => q.rpc.endsWith("/FetchTask")).length;
        await waitUntil(() => fetches() > 0, 30_000, "first FetchTask");
        r.emu.faults.add({ rpc: "FetchTask", kind: "oversize", count: 1, bytes: ANSWER });
        await waitUntil(() => r.emu.faults.fired["oversize"] === 1, 30_000, "the oversized answer");
        const after = fetches();
        // It polls again after the refused answer.
        await waitUntil(() => fetches() > after || !r.daemon.alive(), 60_000).catch(() => undefined);
        const { jobId } = r.emu.enqueue({ workflow: hostJob("      - run: echo after the oversized answer\n") });
        const job = await r.emu.waitForJobDone(jobId, 90_000).catch(() => undefined);
        const peak = r.daemon.alive() ? await peakRss(r.daemon.pid) : NaN;
        assert.deepEqual(
          { daemonAlive: r.daemon.alive(), polledAgain: fetches() > after, nextJob: job?.result, peakBounded: peak < PEAK_BOUND },
          { daemonAlive: true, polledAgain: true, nextJob: "success", peakBounded: true },
          `peak RSS ${(peak / MiB).toFixed(0)} MiB (bound ${PEAK_BOUND / MiB} MiB); job: ${job ? logText(job) : "(not done)"}\n${r.daemon.output().slice(-2000)}`,
        );
      });
    });
  }
});
