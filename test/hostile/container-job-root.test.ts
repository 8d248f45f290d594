// A container job's root is bind-mounted into its container, where the job
// runs as the container's root: it can replace any path in it with a symlink
// to a host path. The runner's side of a container job (scripts, file
// commands) must never write through such a link or read a host file through
// it. Targets are root-owned 0700 directories and a root-only 0600 file.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  SANDBOX_BACKENDS, USE_FILE_COMMANDS, label, logText, makeBase, makeTarget, skipReason, startRunner, targetState, untouched,
  type HostileRunner,
} from "./harness.js";
import { TEST_IMAGE, podmanMissing } from "../container/helpers.js";

const containerJob = (steps: string) => `on: push
jobs:
  hostile:
    runs-on: ct
    steps:
${steps}`;

const PATHS: Record<string, string> = {
  RUNNER_TEMP: '"$RUNNER_TEMP"',
  "file-command dir": '"$(dirname "$GITHUB_ENV")"',
  HOME: '"$HOME"',
  "event dir": '"$(dirname "$GITHUB_EVENT_PATH")"',
};

const podman = await podmanMissing();
for (const b of SANDBOX_BACKENDS) {
  const skip = (await skipReason(b)) || podman || false;
  describe(`hostile: symlinks in a container job's root, ${label(b)}`, { skip }, () => {
    let r: HostileRunner;
    let base: string;
    before(async () => {
      base = await makeBase();
      r = await startRunner({ ...b, capacity: 5, base, labels: ["native:host", `ct:docker://${TEST_IMAGE}`] });
    });
    after(async () => {
      await r?.close();
      await rm(base, { recursive: true, force: true });
    });

    for (const name of Object.keys(PATHS)) {
      it(`${name} swapped for a symlink by the container's root: nothing written through it`, async () => {
        const target = await makeTarget(base, name);
        const job = await r.emu.waitForJobDone(
          r.emu.enqueue({
            workflow: containerJob(`      - run: |
          p=${PATHS[name]}
          mv "$p" "$p.moved"
          ln -s ${target} "$p"
          ls -ld "$p"
${USE_FILE_COMMANDS}`),
          }).jobId,
          180_000,
        );
        const log = logText(job);
        assert.match(log, new RegExp(`-> ${target}`), `the swap happened in the container:\n${log}`);
        assert.deepEqual(await targetState(target), untouched, `${name} -> ${target}:\n${log}`);
        assert.ok(r.daemon.alive(), "daemon alive");
      });
    }

    it("a file command replaced by a symlink to a root-only host file: its content never reaches the job", async () => {
      const secret = `TOPSECRET${Date.now()}`;
      const dir = await makeTarget(base, "readable");
      const file = join(dir, "env");
      await writeFile(file, `LEAKED_VALUE=${secret}\n`, { mode: 0o600 });
      const job = await r.emu.waitForJobDone(
        r.emu.enqueue({
          workflow: containerJob(`      - run: |
          rm -f "$GITHUB_ENV" "$GITHUB_OUTPUT"
          ln -s ${file} "$GITHUB_ENV"
          ln -s ${file} "$GITHUB_OUTPUT"
      - if: always()
        run: echo "value=[$LEAKED_VALUE]"
`),
        }).jobId,
        180_000,
      );
      const log = logText(job);
      assert.match(log, /value=\[/, log);
      assert.ok(!log.includes(secret), `the root-only file was read for the job:\n${log}`);
      assert.ok(r.daemon.alive(), "daemon alive");
    });
  });
}
