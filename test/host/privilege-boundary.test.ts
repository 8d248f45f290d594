// A hostile job against the privilege boundary, under each backend with a
// per-job uid or bubblewrap: its environment must not run code in any
// process that starts before the sandbox (gate, bwrap, setpriv), and the
// runner must never write, create or chmod through a path the job swapped
// for a symlink. Background processes live until the job ends, then die.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { chmod, mkdir, readFile, readdir, readlink, stat, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { HostConfig } from "../../src/config/types.js";
import type { JobEvent, LogEvent } from "../../src/engine/events.js";
import type { JobOutcome, JobRequest } from "../../src/engine/job-request.js";
import { runJobInWorker } from "../../src/worker/index.js";
import { backendFor, isRoot, makeFixture, missingFeature, processesWith, type Fixture } from "./fixture.js";
import { testWorkerCommand } from "../helpers/worker-command.js";

const UID_START = 3_700_000;

interface Case {
  isolation: HostConfig["isolation"];
  cgroups: HostConfig["cgroups"];
}
const cases: Case[] = [
  { isolation: "uid", cgroups: "raw" },
  { isolation: "bwrap", cgroups: "raw" },
  { isolation: "uid+bwrap", cgroups: "raw" },
];

function request(yaml: string): JobRequest {
  return {
    jobKey: `pb-${randomBytes(3).toString("hex")}`,
    workflowYaml: yaml,
    workflowFile: "ci.yml",
    context: { repository: "o/r", repository_owner: "o", event_name: "push", event: {}, ref: "refs/heads/main", sha: "0".repeat(40), run_id: "1", run_number: "1", run_attempt: "1", workflow: "ci.yml", actor: "o", server_url: "http://127.0.0.1:1/", api_url: "http://127.0.0.1:1/api/v1", token: "t0k3n-not-a-secret" },
    secrets: {},
    vars: {},
    needs: {},
  };
}

async function runIsolated(fx: Fixture, host: Partial<HostConfig>, yaml: string): Promise<{ outcome: JobOutcome; text: string }> {
  const { backend } = await backendFor(fx, host);
  const events: JobEvent[] = [];
  const outcome = await runJobInWorker(request(yaml), {
    emit: (e) => events.push(e),
    signal: new AbortController().signal,
    host: backend,
    worker: await testWorkerCommand(),
  });
  const text = events.filter((e): e is LogEvent => e.type === "log").map((e) => e.line).join("\n");
  return { outcome, text };
}

const yamlJob = (steps: string, env = ""): string => `
on: push
jobs:
  build:
    runs-on: native
${env}
    steps:
${steps}`;

describe("privilege boundary", { skip: isRoot ? false : "needs root (CI runs as root)" }, async () => {
  let fx: Fixture;
  let probe: string;
  let hostMntNs: string;
  let preload: string | undefined;
  before(async () => {
    fx = await makeFixture();
    // World-writable, outside the job: a job process may write here only without bwrap.
    probe = join(fx.base, "probe");
    await mkdir(probe);
    await chmod(probe, 0o1777);
    hostMntNs = await readlink("/proc/self/ns/mnt");
    if (existsSync("/usr/bin/cc")) {
      const src = join(fx.base, "preload.c");
      preload = join(fx.base, "preload.so");
      await writeFile(src, `#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void rec(void) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "echo \\"preload:$(id -u):$(grep -c job- /proc/self/cgroup):$(readlink /proc/self/ns/mnt):$(grep CapEff /proc/self/status | cut -f2)\\" >> ${probe}/records");
  unsetenv("LD_PRELOAD");
  if (system(cmd)) {}
}
`);
      execFileSync("/usr/bin/cc", ["-shared", "-fPIC", "-o", preload, src]);
    }
  });
  after(async () => {
    await fx?.cleanup();
  });

  /** Records written by injected code: `<how>:<uid>:<in job cgroup>:<mnt ns>:<CapEff>`. */
  const records = async (): Promise<string[]> =>
    (await readFile(join(probe, "records"), "utf8").catch(() => "")).split("\n").filter(Boolean);
  const record = (how: string) =>
    `echo "${how}:$(id -u):$(grep -c job- /proc/self/cgroup):$(readlink /proc/self/ns/mnt):$(grep CapEff /proc/self/status | cut -f2)" >> ${"$"}{NR_PROBE}/records`;

  for (const c of cases) {
    const missing = await missingFeature(c.isolation, c.cgroups);
    const label = `${c.isolation}/${c.cgroups}`;
    const host: Partial<HostConfig> = { isolation: c.isolation, cgroups: c.cgroups, uid_range: { start: UID_START, count: 20 } };
    describe(label, { skip: missing ?? false }, () => {
      it("runs no job-controlled environment in a wrapper (BASH_FUNC_*, SHELLOPTS+PS4, LD_PRELOAD, via env: and $GITHUB_ENV)", async () => {
        await writeFile(join(probe, "records"), "");
        await chmod(join(probe, "records"), 0o666);
        const fn = `() { ${record("func")}; builtin read "$@"; }`;
        const ps4 = `$(${record("ps4")})`;
        const env = `    env:
      NR_PROBE: ${JSON.stringify(probe)}
      BASH_FUNC_read%%: ${JSON.stringify(fn)}
      SHELLOPTS: xtrace
      PS4: ${JSON.stringify(ps4)}
${preload ? `      LD_PRELOAD: ${JSON.stringify(preload)}\n` : ""}`;
        const steps = `      - run: |
          {
            printf 'BASH_FUNC_exec%%%%=() { %s; builtin exec "$@"; }\\n' '${record("genv")}'
            echo 'BASH_ENV=/dev/null'
          } >> "$GITHUB_ENV"
      - run: echo second step ran
`;
        const { outcome, text } = await runIsolated(fx, host, yamlJob(steps, env));
        assert.equal(outcome.result, "success", text);
        assert.match(text, /second step ran/);
        const recs = await records();
        // Without bwrap the job's own processes can write the probe: the injected code did reach them.
        if (!c.isolation.endsWith("bwrap")) assert.ok(recs.some((r) => r.startsWith("ps4:")), `no record from the job itself:\n${text}`);
        for (const r of recs) {
          const [how, uid, inCgroup, mnt, capEff] = r.split(":");
          // Only the job's own processes may have run it: in the job cgroup,
          // as the job uid or without capabilities, inside bubblewrap's mount namespace.
          assert.notEqual(inCgroup, "0", `${how} ran outside the job cgroup: ${r}`);
          if (c.isolation.startsWith("uid")) assert.notEqual(uid, "0", `${how} ran as root: ${r}`);
          else assert.equal(Number.parseInt(capEff ?? "1", 16), 0, `${how} ran with capabilities: ${r}`);
          if (c.isolation.endsWith("bwrap")) assert.notEqual(mnt, hostMntNs, `${how} ran in the host mount namespace: ${r}`);
        }
      });

      it("writes nothing through a job path replaced by a symlink ($RUNNER_TEMP, $HOME, the file-command directory)", async () => {
        const victim = join(fx.base, `victim-${randomBytes(3).toString("hex")}`);
        await mkdir(victim, { mode: 0o755 });
        const steps = `      - run: |
          rm -rf "$RUNNER_TEMP" && ln -s ${victim} "$RUNNER_TEMP" || true
          rm -rf "$HOME" && ln -s ${victim} "$HOME" || true
          echo swapped
      - run: echo after
      - run: echo after again
`;
        const { text } = await runIsolated(fx, host, yamlJob(steps));
        assert.deepEqual(await readdir(victim), [], text);
      });

      it("never chmods through a symlink a surviving job process swaps in", async () => {
        const victim = join(fx.base, `private-${randomBytes(3).toString("hex")}`);
        await mkdir(victim, { mode: 0o700 });
        await chmod(victim, 0o700);
        const racer = `      - run: |
          d="$RUNNER_TEMP/_runner_file_commands"
          setsid nohup perl -e 'while (1) { rmdir $ARGV[0]; unlink $ARGV[0]; symlink $ARGV[1], $ARGV[0] }' "$d" ${victim} >/dev/null 2>&1 &
`;
        const steps = racer + Array.from({ length: 40 }, () => "      - run: true\n").join("") + "      - run: pgrep -x perl >/dev/null && echo racer-alive\n";
        const { text } = await runIsolated(fx, host, yamlJob(steps));
        assert.match(text, /racer-alive/);
        assert.equal((await stat(victim)).mode & 0o7777, 0o700, text);
        assert.deepEqual(await readdir(victim), [], text);
      });

      it("gives a job uid (no passwd entry) a git identity in its HOME, which the workflow's own git config overrides", async () => {
        const steps = `      - run: |
          echo "identity=$(git config user.name) <$(git config user.email)> uid=$(id -u)"
          git config --global user.name "Workflow Name"
          echo "after=$(git config user.name)"
`;
        const { outcome, text } = await runIsolated(fx, host, yamlJob(steps));
        assert.equal(outcome.result, "success", text);
        if (!c.isolation.startsWith("uid")) {
          assert.match(text, /identity= <>/, "a job without a uid of its own gets no identity from the runner");
          return;
        }
        const m = /identity=native-runner job <job-(\d+)@native-runner\.invalid> uid=(\d+)/.exec(text);
        assert.ok(m, text);
        assert.equal(m[1], m[2], "the email names the job's uid");
        assert.match(text, /after=Workflow Name/);
      });

      it("keeps a background process alive until the job ends, then kills it", async () => {
        const mark = `${7000 + Math.floor(Math.random() * 1000)}.${randomBytes(3).readUIntBE(0, 3)}`;
        const steps = `      - run: |
          sleep ${mark} &
          nohup setsid sleep ${mark}1 >/dev/null 2>&1 &
      - run: |
          pgrep -f "sleep ${mark}$" >/dev/null && echo "bg-alive"
          pgrep -f "sleep ${mark}1" >/dev/null && echo "setsid-alive"
`;
        const { outcome, text } = await runIsolated(fx, host, yamlJob(steps));
        assert.equal(outcome.result, "success", text);
        assert.match(text, /bg-alive/);
        assert.match(text, /setsid-alive/);
        assert.deepEqual(await processesWith(mark), []);
      });
    });
  }
});
