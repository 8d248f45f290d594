// For each isolation backend this machine offers, a hostile job tries to
// read the runner's secrets, another job's secrets and hidden paths, to leave
// daemons behind, and to exceed memory_max and pids_max.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import type { HostConfig } from "../../src/config/types.js";
import {
  backendFor, isRoot, makeFixture, missingFeature, ownEnvironSha, processesWith, run, startVictim, type Fixture,
} from "./fixture.js";

interface Case {
  isolation: HostConfig["isolation"];
  cgroups: HostConfig["cgroups"];
  /** What the backend guarantees. */
  hidesSecrets: boolean;
  /** World-readable hidden paths are hidden (needs a mount namespace). */
  hidesWorldReadable: boolean;
  killsDaemons: boolean;
  limits: boolean;
}

const cases: Case[] = [
  { isolation: "none", cgroups: "none", hidesSecrets: false, hidesWorldReadable: false, killsDaemons: false, limits: false },
  { isolation: "none", cgroups: "raw", hidesSecrets: false, hidesWorldReadable: false, killsDaemons: true, limits: true },
  { isolation: "uid", cgroups: "none", hidesSecrets: true, hidesWorldReadable: false, killsDaemons: true, limits: false },
  { isolation: "uid", cgroups: "raw", hidesSecrets: true, hidesWorldReadable: false, killsDaemons: true, limits: true },
  { isolation: "bwrap", cgroups: "raw", hidesSecrets: true, hidesWorldReadable: true, killsDaemons: true, limits: true },
  { isolation: "uid+bwrap", cgroups: "none", hidesSecrets: true, hidesWorldReadable: true, killsDaemons: true, limits: false },
  { isolation: "uid+bwrap", cgroups: "raw", hidesSecrets: true, hidesWorldReadable: true, killsDaemons: true, limits: true },
];

const UID_START = 3_100_000;
const MiB = 1024 * 1024;

describe("host isolation matrix", { skip: isRoot ? false : "needs root (CI runs as root): per-job uids and raw cgroups" }, async () => {
  let fx: Fixture;
  let runnerEnvSha: string;
  before(async () => {
    fx = await makeFixture();
    runnerEnvSha = await ownEnvironSha();
  });
  after(async () => {
    await fx?.cleanup();
  });

  for (const c of cases) {
    const label = `${c.isolation}/${c.cgroups}`;
    const missing = await missingFeature(c.isolation, c.cgroups);
    describe(label, { skip: missing ?? false }, () => {
      const host = (over: Partial<HostConfig> = {}): Partial<HostConfig> => ({
        isolation: c.isolation,
        cgroups: c.cgroups,
        uid_range: { start: UID_START, count: 50 },
        ...over,
      });

      it("keeps the runner's, another job's and hidden secrets from a hostile job", async () => {
        const { backend, logs } = await backendFor(fx, host());
        assert.equal(backend.name, label);
        const victim = await backend.prepareJob({ jobKey: "victim" });
        const hostile = await backend.prepareJob({ jobKey: "hostile" });
        const victimSecret = `VICTIM-${randomBytes(12).toString("hex")}`;
        const own = randomBytes(8).toString("hex");
        try {
          const v = await startVictim(victim, victimSecret);
          const r = await run(hostile, `exec bash ${fx.hostileScript}`, {
            OWN_MARK: own,
            FX_BASE: fx.base,
            FX_STATE: fx.stateDir,
            FX_CONFIG: fx.configFile,
            FX_CACHE: fx.cacheDir,
            FX_HIDDEN_WORLD: fx.hiddenWorld,
            FX_HIDDEN_PRIVATE: fx.hiddenPrivate,
            FX_OTHER_ROOT: victim.dirs.root,
            FX_OTHER_WS: victim.dirs.workspace,
            FX_OTHER_HOME: victim.dirs.home,
            FX_RUNNER_PID: String(process.pid),
          });
          await v.stop();
          assert.match(r.out, /== end/, r.out);
          // The probe works: it does find the job's own file through the same tree walk.
          assert.ok(r.out.includes(`OWN-${own}`), `the hostile script should see its own workspace: ${r.out.slice(0, 3000)}`);
          const leaks = {
            token: r.out.includes(fx.secrets.token),
            config: r.out.includes(fx.secrets.config),
            cache: r.out.includes(fx.secrets.cache),
            hiddenPrivate: r.out.includes(fx.secrets.hiddenPrivate),
            hiddenWorld: r.out.includes(fx.secrets.hiddenWorld),
            otherJob: r.out.includes(victimSecret),
            daemonEnv: r.out.includes(fx.secrets.daemonEnv),
            runnerEnviron: r.out.includes(`runner-environ-sha=${runnerEnvSha}`),
          };
          if (c.hidesSecrets) {
            const { hiddenWorld, ...rest } = leaks;
            assert.deepEqual(rest, {
              token: false, config: false, cache: false, hiddenPrivate: false, otherJob: false, daemonEnv: false, runnerEnviron: false,
            }, r.out);
            assert.equal(hiddenWorld, !c.hidesWorldReadable, "world-readable hidden path");
            if (!c.hidesWorldReadable) {
              assert.ok(logs.some((l) => l.level === "warn" && l.msg.includes(fx.hiddenWorld)), "self-check warns about the readable hidden path");
            }
          } else {
            // Not guaranteed with isolation none: the job reads everything the runner can.
            assert.equal(leaks.token, true, r.out.slice(0, 2000));
            assert.equal(leaks.otherJob, true);
            assert.equal(leaks.runnerEnviron, true, `${runnerEnvSha}: ${r.out.slice(r.out.indexOf("== runner"))}`);
            assert.ok(logs.some((l) => l.level === "warn" && l.msg.includes("isolation is NONE")));
          }
        } finally {
          await hostile.dispose();
          await victim.dispose();
        }
      });

      it(c.killsDaemons ? "leaves no process behind after dispose (setsid, double fork)" : "kills the job's process groups at dispose (setsid daemons are not guaranteed to die)", async () => {
        const { backend } = await backendFor(fx, host());
        const sb = await backend.prepareJob({ jobKey: "daemons" });
        const mark = `${1000 + Math.floor(Math.random() * 1000)}.${randomBytes(3).readUIntBE(0, 3)}`;
        const r = await run(
          sb,
          `sleep ${mark}1 & setsid sleep ${mark}2 & ( ( sleep ${mark}3 & ) & ) ; nohup setsid sh -c "sleep ${mark}4" >/dev/null 2>&1 & sleep 0.2; echo started`,
        );
        assert.match(r.out, /started/);
        // A background child lives until the job ends (GitHub's semantics); dispose() ends it on every backend.
        // (Under bwrap each spawn here is its own PID namespace; a job worker makes that one per job.)
        if (!c.isolation.includes("bwrap")) assert.equal((await processesWith(`${mark}1`)).length, 1);
        await sb.dispose();
        assert.deepEqual(await processesWith(`${mark}1`), []);
        await sb.dispose(); // idempotent
        const left = [
          ...(await processesWith(`${mark}2`)),
          ...(await processesWith(`${mark}3`)),
          ...(await processesWith(`${mark}4`)),
        ];
        if (c.killsDaemons) {
          assert.deepEqual(left, [], "no process of the job survives dispose()");
        } else {
          for (const pid of left) process.kill(pid, "SIGKILL");
        }
        await assert.rejects(readdir(sb.dirs.root), /ENOENT/, "job root removed");
      });

      if (c.limits) {
        it("kills a job that exceeds memory_max and reports oomKilled", async () => {
          const { backend } = await backendFor(fx, host({ resources: { memory_max: 64 * MiB, cpu_quota: 0, pids_max: 0 } }));
          const sb = await backend.prepareJob({ jobKey: "oom" });
          try {
            const r = await run(sb, "tail /dev/zero; echo tail-rc=$?; exit 3");
            assert.equal(r.oomKilled, true, r.out);
            assert.match(r.out, /tail-rc=137/);
            assert.match(r.out, /killed: exceeded memory_max/);
            // The sandbox still works after an OOM kill, and a normal step is not flagged.
            const ok = await run(sb, "echo fine");
            assert.equal(ok.code, 0);
            assert.notEqual(ok.oomKilled, true);
          } finally {
            await sb.dispose();
          }
        });

        it("bounds a fork bomb with pids_max", async () => {
          const { backend } = await backendFor(fx, host({ resources: { memory_max: 0, cpu_quota: 0, pids_max: 32 } }));
          const sb = await backend.prepareJob({ jobKey: "pids" });
          const mark = `${2000 + Math.floor(Math.random() * 1000)}.${randomBytes(3).readUIntBE(0, 3)}`;
          try {
            const r = await run(
              sb,
              `sh -c 'i=0; while [ $i -lt 200 ]; do setsid sleep ${mark} & i=$((i+1)); echo $i > "$TMPDIR/count"; done'; echo "started=$(cat "$TMPDIR/count")"`,
            );
            const started = Number(/started=(\d+)/.exec(r.out)?.[1]);
            assert.ok(started > 0 && started <= 32, `started ${started} processes with pids_max 32: ${r.out}`);
          } finally {
            await sb.dispose();
          }
          assert.deepEqual(await processesWith(mark), []);
        });
      }
    });
  }
});
