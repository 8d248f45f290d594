// Job environment against the processes that start a step. A workflow `env:`
// or a `$GITHUB_ENV` line carries code for every program that reads its
// environment: an exported bash function named after a builtin the wrapper
// shells call (`BASH_FUNC_read%%`, `BASH_FUNC_echo%%`), `LD_PRELOAD` of a
// library from the workspace, `SHELLOPTS=xtrace` with a `PS4` that runs a
// command. Each probe records who ran it (uid, mount and PID namespace,
// cgroups), copies whatever it can read of `.runner`, the config file (cache
// secret), the daemon's environ and a hidden path, and leaves a detached
// process behind. Expected: every probe ran as the step itself does (same
// uid and cgroups, inside the sandbox's namespaces), read nothing secret, and
// nothing it started outlives the job.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  SANDBOX_BACKENDS, compileProbe, hostJob, killLeftovers, label, logText, makeBase, noCompiler, processesWith,
  skipReason, sleepMarker, startRunner, type Backend, type HostileRunner,
} from "./harness.js";
import { waitUntil } from "../daemon/harness.js";

type Vector = "bash-function" | "ld-preload" | "ps4";
type Via = "workflow env" | "GITHUB_ENV";

// Runs in the process it is injected into; every command it starts is forked from there.
const PAYLOAD = [
  "set +x; (",
  'm="$HOSTILE_MARKS/sh-$BASHPID";',
  "{ builtin printf 'uid=%s mnt=%s pidns=%s cg=%s exe=bash\\n' \"$(id -u)\" \"$(readlink /proc/self/ns/mnt)\" \"$(readlink /proc/self/ns/pid)\"",
  "\"$(grep -E ':memory:|:pids:|^0::' /proc/self/cgroup | tr '\\n' ';')\";",
  'IFS=:; for f in $HOSTILE_READ; do if [ -r "$f" ]; then builtin printf \'read %s:\\n\' "$f"; tr \'\\0\' \'\\n\' < "$f"; fi; done; } >> "$m" 2>/dev/null;',
  'setsid sleep "$HOSTILE_SLEEP" </dev/null >/dev/null 2>&1 &',
  ") 2>/dev/null",
].join(" ");

function injection(vector: Vector, soPath: string): Record<string, string> {
  switch (vector) {
    case "bash-function":
      return {
        "BASH_FUNC_read%%": '() { eval "$HOSTILE_SH"; builtin read "$@"; }',
        "BASH_FUNC_echo%%": '() { eval "$HOSTILE_SH"; builtin echo "$@"; }',
      };
    case "ld-preload":
      return { LD_PRELOAD: soPath };
    case "ps4":
      return { SHELLOPTS: "xtrace", PS4: '$(eval "$HOSTILE_SH")' };
  }
}

const yamlStr = (s: string) => JSON.stringify(s);

function workflow(vector: Vector, via: Via, read: string[], sleep: string, probeSo: string): string {
  const so = "${{ github.workspace }}/x.so";
  const inj = injection(vector, so);
  const env: Record<string, string> = {
    HOSTILE_MARKS: "${{ github.workspace }}/marks",
    HOSTILE_READ: read.join(":"),
    HOSTILE_SLEEP: sleep,
    HOSTILE_SH: PAYLOAD,
    ...(via === "workflow env" ? inj : {}),
  };
  const envYaml = Object.entries(env).map(([k, v]) => `      ${yamlStr(k)}: ${yamlStr(v)}\n`).join("");
  const toGithubEnv = via !== "GITHUB_ENV" ? "" : Object.entries(inj).map(([k, v]) =>
    k === "LD_PRELOAD"
      ? `          printf 'LD_PRELOAD=%s/x.so\\n' "$GITHUB_WORKSPACE" >> "$GITHUB_ENV"\n`
      : `          printf '%s\\n' ${shq(`${k}=${v}`)} >> "$GITHUB_ENV"\n`).join("");
  return hostJob(
    `      - run: |
          mkdir -p marks && chmod 1777 marks
          cp ${probeSo} x.so && chmod 755 x.so
${toGithubEnv}      - run: |
          read -r _ < /dev/null || true
          echo second step
      - if: always()
        run: |
          printf 'REF uid=%s mnt=%s pidns=%s cg=%s\\n' "$(id -u)" "$(readlink /proc/self/ns/mnt)" "$(readlink /proc/self/ns/pid)" "$(grep -E ':memory:|:pids:|^0::' /proc/self/cgroup | tr '\\n' ';')"
          for f in marks/*; do [ -f "$f" ] || continue; printf 'MARK-BEGIN %s\\n' "$f"; cat "$f"; printf 'MARK-END\\n'; done
`,
    `    env:\n${envYaml}`,
  );
}

const shq = (s: string) => `'${s.replace(/'/g, `'"'"'`)}'`;

interface Probe {
  uid: string;
  mnt: string;
  pidns: string;
  cg: string;
  exe: string;
}

function parse(log: string): { ref?: Probe; probes: Probe[] } {
  let ref: Probe | undefined;
  const probes: Probe[] = [];
  let inMark = false;
  for (const line of log.split("\n")) {
    const r = /^REF uid=(\d+) mnt=(\S*) pidns=(\S*) cg=(\S*)$/.exec(line);
    if (r) ref = { uid: r[1]!, mnt: r[2]!, pidns: r[3]!, cg: r[4]!, exe: "" };
    if (line.startsWith("MARK-BEGIN ")) inMark = true;
    else if (line === "MARK-END") inMark = false;
    else if (inMark) {
      const m = /^uid=(\d+) mnt=(\S*) pidns=(\S*) cg=(\S*) exe=(.*)$/.exec(line);
      if (m) probes.push({ uid: m[1]!, mnt: m[2]!, pidns: m[3]!, cg: m[4]!, exe: m[5]! });
    }
  }
  return { ref, probes };
}

const backends: Backend[] = [{ isolation: "none", cgroups: "raw" }, ...SANDBOX_BACKENDS];
const vectors: Vector[] = ["bash-function", "ld-preload", "ps4"];
const vias: Via[] = ["workflow env", "GITHUB_ENV"];

const hostMnt = await readlink("/proc/self/ns/mnt");
const hostPidns = await readlink("/proc/self/ns/pid");

for (const b of backends) {
  const skip = (await skipReason(b)) || noCompiler();
  describe(`hostile: job environment vs the step wrappers, ${label(b)}`, { skip }, () => {
    let r: HostileRunner;
    let base: string;
    let so: string;
    let hiddenSecret: string;
    let hiddenFile: string;
    before(async () => {
      base = await makeBase();
      const probes = join(base, "probes");
      await mkdir(probes, { mode: 0o755 });
      so = await compileProbe("preload", probes, true);
      // World-readable, listed in host.hidden_paths: only a mount namespace hides it.
      const hidden = join(base, "hidden");
      await mkdir(hidden, { mode: 0o755 });
      hiddenSecret = `HIDDEN${randomBytes(16).toString("hex")}`;
      hiddenFile = join(hidden, "secret");
      await writeFile(hiddenFile, hiddenSecret, { mode: 0o644 });
      await chmod(hidden, 0o755);
      r = await startRunner({ ...b, capacity: 3, hidden: [hidden], base });
    });
    after(async () => {
      await r?.close();
      const { rm } = await import("node:fs/promises");
      await rm(base, { recursive: true, force: true });
    });

    interface Outcome {
      log: string;
      survivors: number[];
    }
    const outcomes = new Map<string, Promise<Outcome>>();
    const key = (vector: Vector, via: Via) => `${vector} through ${via}`;
    // All cases of a backend run at once (capacity 3): each has its own job and its own leftover marker.
    const outcome = (vector: Vector, via: Via): Promise<Outcome> => {
      let p = outcomes.get(key(vector, via));
      if (!p) {
        const sleep = sleepMarker();
        const read = [r.runnerFile, r.configFile, `/proc/${r.daemon.pid}/environ`, hiddenFile];
        const { jobId } = r.emu.enqueue({ workflow: workflow(vector, via, read, sleep, so) });
        p = (async () => {
          const job = await r.emu.waitForJobDone(jobId, 240_000);
          try {
            await waitUntil(async () => (await processesWith(sleep)).length === 0, 15_000).catch(() => {});
            return { log: logText(job), survivors: await processesWith(sleep) };
          } finally {
            await killLeftovers(sleep);
          }
        })();
        p.catch(() => {});
        outcomes.set(key(vector, via), p);
      }
      return p;
    };

    for (const via of vias) {
      for (const vector of vectors) {
        it(`${vector} through ${via}: runs only inside the sandbox, reads nothing, leaves nothing`, async () => {
          for (const v of vias) for (const x of vectors) void outcome(x, v);
          const { log, survivors } = await outcome(vector, via);
          const { ref, probes } = parse(log);
          assert.ok(ref, `the reference step ran: ${log}`);
          if (!(vector === "ps4" && ref.uid === "0")) {
            // bash takes no PS4 from the environment as root; every other probe must fire in the step itself.
            assert.ok(probes.length > 0, `the ${vector} probe fired nowhere (is the attack still expressible?):\n${log}`);
          }
          // A world-readable hidden path is readable without a mount namespace (documented for uid).
          const hides = b.isolation.includes("bwrap");
          const leaks = [...r.leaked(log), ...(hides && log.includes(hiddenSecret) ? ["hidden path"] : [])];
          const outside = probes.filter((p) =>
            p.uid !== ref.uid || p.cg !== ref.cg || (hides && (p.mnt === hostMnt || p.pidns === hostPidns)),
          );
          const report = outside.map((p) => `${p.exe}: uid=${p.uid} mnt=${p.mnt} pidns=${p.pidns} cg=${p.cg}`).join("\n");
          assert.deepEqual(
            {
              outsideTheSandbox: outside.length,
              leaked: b.isolation === "none" ? [] : leaks,
              survivors: survivors.length,
              daemonAlive: r.daemon.alive(),
            },
            { outsideTheSandbox: 0, leaked: [], survivors: 0, daemonAlive: true },
            `step: uid=${ref.uid} mnt=${ref.mnt} pidns=${ref.pidns} cg=${ref.cg}; host mnt=${hostMnt}\nprobes outside:\n${report}\n--- log:\n${log.slice(0, 6000)}`,
          );
        });
      }
    }
  });
}
