// The NixOS deployment model: the runner is a non-root DynamicUser with
// Delegate=yes. Jobs share its uid, so bubblewrap alone must hide its state
// dir, config, cache secret, /proc and the other job; the delegated cgroup
// catches daemons. Simulated here: root chowns a v2 cgroup to the runner uid
// and starts the runner inside it as that uid.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chown, mkdir, readdir, rmdir } from "node:fs/promises";
import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { childReport, isRoot, makeFixture, processesWith, type Fixture } from "./fixture.js";

const RUNNER_UID = 3_400_000;

async function chownTree(p: string, uid: number): Promise<void> {
  await chown(p, uid, uid);
  for (const e of await readdir(p, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) await chownTree(join(p, e.name), uid);
    else await chown(join(p, e.name), uid, uid);
  }
}

const mount = existsSync("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified";

describe("non-root runner with a delegated cgroup (NixOS DynamicUser + Delegate=yes)", {
  skip: !isRoot ? "needs root to set up the delegation" : !existsSync(`${mount}/cgroup.procs`) ? "no cgroup v2 hierarchy" : false,
}, () => {
  let fx: Fixture;
  let cg: string;
  before(async () => {
    fx = await makeFixture();
    for (const p of [fx.stateDir, fx.configFile, fx.cacheDir, fx.hiddenPrivate]) await chownTree(p, RUNNER_UID);
    await mkdir(fx.workdir, { mode: 0o755 });
    await mkdir(join(fx.base, "runner-home"), { mode: 0o700 });
    await chown(fx.workdir, RUNNER_UID, RUNNER_UID);
    await chown(join(fx.base, "runner-home"), RUNNER_UID, RUNNER_UID);
    cg = join(mount, `nr-test-unit-${randomBytes(4).toString("hex")}`);
    await mkdir(cg);
    for (const f of ["", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"]) await chown(join(cg, f), RUNNER_UID, RUNNER_UID);
  });
  after(async () => {
    for (const d of await readdir(cg).catch(() => [] as string[])) if (!d.includes(".")) await rmdir(join(cg, d)).catch(() => {});
    await rmdir(cg).catch(() => {});
    await fx?.cleanup();
  });

  it("hides the runner's secrets and the other job from jobs running under the runner's own uid", async (t) => {
    if (!existsSync(`${cg}/cgroup.kill`)) return t.skip("kernel without cgroup.kill");
    const env = {
      PATH: "/usr/local/bin:/usr/bin:/bin",
      HOME: join(fx.base, "runner-home"),
      TMPDIR: join(fx.base, "runner-home"),
      NR_FIXTURE: JSON.stringify({ ...fx, daemon: undefined }),
    };
    const res = await childReport<{
      name: string; uid: number; out: string; victimSecret: string; own: string; mark: string; environSha: string; logs: string[];
    }>(`echo $$ > ${cg}/cgroup.procs && exec setpriv --reuid ${RUNNER_UID} --regid ${RUNNER_UID} --clear-groups -- node --import tsx test/host/nonroot-child.ts`, [], env);
    assert.equal(res.uid, RUNNER_UID);
    assert.equal(res.name, "bwrap/delegated", res.logs.join("\n"));
    assert.ok(res.out.includes(`OWN-${res.own}`), res.out);
    assert.match(res.out, /spawned/);
    for (const [what, secret] of Object.entries({ ...fx.secrets, victim: res.victimSecret })) {
      assert.ok(!res.out.includes(secret), `${what} leaked to a job running as the runner's uid:\n${res.out}`);
    }
    assert.ok(!res.out.includes(`runner-environ-sha=${res.environSha}`), "runner environ readable");
    assert.deepEqual(await processesWith(res.mark), [], "setsid daemon killed");
    assert.deepEqual((await readdir(cg)).filter((n) => n.startsWith("job-")), [], "job cgroups removed");
  });
});
