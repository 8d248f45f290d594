// Paths the runner creates inside the job root belong to the job: a step can
// replace any of them with a symlink, once between steps or, with a process
// that survives its step, in a loop while the runner works. The runner must
// never write, create or chmod through such a link. Targets here are
// root-owned 0700 directories (what /etc/cron.d is to an attacker): after the
// job each must still be empty, root-owned and 0700.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  SANDBOX_BACKENDS, USE_FILE_COMMANDS, compileProbe, hostJob, killLeftovers, label, logText, makeBase, makeTarget, noCompiler,
  skipReason, startRunner, targetState, untouched, type HostileRunner,
} from "./harness.js";
import { waitUntil } from "../daemon/harness.js";

const PATHS: Record<string, string> = {
  RUNNER_TEMP: '"$RUNNER_TEMP"',
  "file-command dir": '"$(dirname "$GITHUB_ENV")"',
  HOME: '"$HOME"',
  workspace: '"$GITHUB_WORKSPACE"',
  "tool cache": '"$RUNNER_TOOL_CACHE"',
  "event dir": '"$(dirname "$GITHUB_EVENT_PATH")"',
};


/** Waits until the job's root (from the log's `Workspace:` line) has been removed. */
async function disposed(log: string): Promise<void> {
  const ws = /^Workspace: (.+)$/m.exec(log)?.[1];
  if (!ws) return;
  await waitUntil(() => !existsSync(dirname(ws)), 20_000).catch(() => {});
}

for (const b of SANDBOX_BACKENDS) {
  const skip = (await skipReason(b)) || noCompiler();
  describe(`hostile: symlinks in the job root, ${label(b)}`, { skip }, () => {
    let r: HostileRunner;
    let base: string;
    let racer: string;
    before(async () => {
      base = await makeBase();
      await mkdir(join(base, "probes"), { mode: 0o755 });
      racer = await compileProbe("racer", join(base, "probes"), false);
      r = await startRunner({ ...b, capacity: 3, base });
    });
    after(async () => {
      await r?.close();
      await rm(base, { recursive: true, force: true });
    });

    const swaps = new Map<string, Promise<{ log: string; target: string }>>();
    const swap = (name: string) => {
      let p = swaps.get(name);
      if (!p) {
        p = (async () => {
          const target = await makeTarget(base, name);
          const job = await r.emu.waitForJobDone(
            r.emu.enqueue({
              workflow: hostJob(`      - run: |
          p=${PATHS[name]}
          mv "$p" "$p.moved"
          ln -s ${target} "$p"
          ls -ld "$p"
${USE_FILE_COMMANDS}`),
            }).jobId,
            120_000,
          );
          const log = logText(job);
          await disposed(log);
          return { log, target };
        })();
        p.catch(() => {});
        swaps.set(name, p);
      }
      return p;
    };

    for (const name of Object.keys(PATHS)) {
      // Only RUNNER_TEMP (step scripts, the file-command dir) was written through before privilege separation; the rest guard against regressions.
      it(`${name} swapped for a symlink between steps: nothing written or chmodded through it`, async () => {
        for (const n of Object.keys(PATHS)) void swap(n);
        const { log, target } = await swap(name);
        // Either the link is in place, or the job cannot touch the path at all (a runner-owned job root).
        const swapped = log.includes(`-> ${target}`);
        assert.ok(swapped || /mv: cannot move .*(Permission denied|Operation not permitted|Read-only file system)/.test(log), `the swap was attempted: ${log}`);
        assert.deepEqual(await targetState(target), untouched, `${name} -> ${target}:\n${log}`);
        assert.ok(r.daemon.alive(), "daemon alive");
      });
    }

    // Before privilege separation this failed with a per-job uid alone; under bubblewrap the racer died with its step's PID namespace.
    it("the file-command dir swapped in a loop by a surviving racer: no chmod, no file through the link", async () => {
      const target = await makeTarget(base, "race");
      const steps = Array.from({ length: 80 }, () => "      - if: always()\n        run: echo step\n").join("");
      const job = await r.emu.waitForJobDone(
        r.emu.enqueue({
          workflow: hostJob(`      - run: |
          setsid ${racer} "$(dirname "$GITHUB_ENV")" ${target} </dev/null >/dev/null 2>&1 &
          sleep 0.2
          echo racer started
${steps}`),
        }).jobId,
        240_000,
      );
      const log = logText(job);
      await disposed(log);
      await killLeftovers(racer);
      assert.match(log, /racer started/);
      assert.deepEqual(await targetState(target), untouched, log.slice(-3000));
      assert.ok(r.daemon.alive(), "daemon alive");
    });
  });
}
