// The real-server scenarios, shared by the test files (native-runner) and
// bench/real-server.ts (native-runner beside act_runner). Each pushes a
// repository to Gitea, waits for the jobs' commit statuses, and judges the
// outcome by what the server stores: job states and the jobs' logs.

import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { sleep, type Gitea, type JobStatus } from "./gitea.js";
import type { RunnerProcess } from "./runners.js";

export interface RunnerControl {
  current(): RunnerProcess;
  /** SIGKILL the daemon, then start it again. */
  kill9AndRestart(): Promise<void>;
}

export interface ScenarioContext {
  gitea: Gitea;
  runner: RunnerControl;
  /** A name unique to this scenario run (repository names, files in /tmp). */
  unique: string;
}

export interface ScenarioResult {
  /** Every job ended in the state the scenario expects. */
  resultOk: boolean;
  /** The logs hold what they must (and not what they must not). */
  logOk: boolean;
  problems: string[];
  wallMs: number;
  /** A measured figure worth printing (e.g. a throughput). */
  figure?: string;
}

export interface Scenario {
  name: string;
  /** Why it cannot run here, or false. */
  unavailable?: () => string | false;
  run(ctx: ScenarioContext): Promise<Omit<ScenarioResult, "wallMs">>;
}

export const NIX_FLAKE = readFileSync(join(import.meta.dirname, "../e2e/fixtures/flake/flake.nix"), "utf8");

function nixUnavailable(): string | false {
  if (spawnSync("nix", ["--extra-experimental-features", "nix-command", "store", "ping", "--store", "daemon"]).status !== 0) {
    return "no nix-daemon (scripts/setup-host.sh starts one)";
  }
  return false;
}

/** A checker that collects problems instead of throwing, so a benchmark can count them. */
class Judge {
  readonly resultProblems: string[] = [];
  readonly logProblems: string[] = [];

  state(jobs: JobStatus[], match: string, want: string): JobStatus | undefined {
    const j = jobs.find((x) => x.context.includes(match));
    if (!j) this.resultProblems.push(`no job ${match} among ${jobs.map((x) => x.context).join(", ")}`);
    else if (j.state !== want) this.resultProblems.push(`${j.context}: ${j.state} (${j.description}), expected ${want}`);
    return j;
  }

  has(what: string, rows: string[], m: string | RegExp): void {
    if (!rows.some((r) => (typeof m === "string" ? r.includes(m) : m.test(r)))) {
      this.logProblems.push(`${what}: no row matches ${String(m)}\n  ${rows.slice(-25).join("\n  ")}`);
    }
  }

  /** No row holds `m` (a string), or no row is exactly `m.line`. */
  hasNot(what: string, rows: string[], m: string | { line: string }): void {
    const hit = rows.find((r) => (typeof m === "string" ? r.includes(m) : r === m.line));
    if (hit !== undefined) this.logProblems.push(`${what}: a row holds ${JSON.stringify(m)}: ${hit}`);
  }

  check(what: string, ok: boolean, detail = ""): void {
    if (!ok) this.resultProblems.push(`${what}${detail ? `: ${detail}` : ""}`);
  }

  done(): Omit<ScenarioResult, "wallMs"> {
    return {
      resultOk: this.resultProblems.length === 0,
      logOk: this.logProblems.length === 0,
      problems: [...this.resultProblems, ...this.logProblems],
    };
  }
}

const wfDir = ".gitea/workflows";

async function logOf(g: Gitea, repo: string, j: JobStatus | undefined): Promise<string[]> {
  return j ? g.jobLog(repo, j.run, j.job) : [];
}

export const planScenario: Scenario = {
  name: "deployment plan: checkout + nix build",
  unavailable: nixUnavailable,
  async run({ gitea, unique, runner }) {
    const out = `e2e-gitea-${unique}`;
    const repo = `plan-${unique}`;
    const sha = await gitea.createRepo(repo, {
      "flake.nix": NIX_FLAKE.replace('name = "nixos-exporter-ci"', `name = "${out}"`),
      [`${wfDir}/build.yml`]: "name: Build\non: [push]\njobs:\n  build:\n    runs-on: native\n    steps:\n      - uses: actions/checkout@v4\n      - run: nix build\n      - run: readlink result; git log -1 --format=commit=%H\n",
    });
    const jobs = await gitea.waitJobs(repo, sha, 1, 180_000, () => runner.current().output());
    const j = new Judge();
    const build = j.state(jobs, "Build / build", "success");
    const rows = await logOf(gitea, repo, build);
    j.has("build", rows, new RegExp(`^/nix/store/[a-z0-9]{32}-${out}$`));
    j.has("build", rows, `commit=${sha}`);
    return j.done();
  },
};

export const matrixScenario: Scenario = {
  name: "matrix + needs + outputs",
  async run({ gitea, unique, runner }) {
    const repo = `matrix-${unique}`;
    const sha = await gitea.createRepo(repo, {
      [`${wfDir}/ci.yml`]: `name: Matrix CI
on: push
jobs:
  build:
    runs-on: native
    strategy:
      matrix:
        flavour: [alpha, beta]
    outputs:
      artefact: \${{ steps.make.outputs.artefact }}
    steps:
      - id: make
        run: |
          echo "artefact=built-\${{ matrix.flavour }}" >> "$GITHUB_OUTPUT"
          echo "job=$GITHUB_JOB workflow=$GITHUB_WORKFLOW flavour=\${{ matrix.flavour }}"
  report:
    needs: build
    runs-on: native
    steps:
      - run: echo "needs result=\${{ needs.build.result }} artefact=\${{ needs.build.outputs.artefact }} job=\${{ github.job }}"
`,
    });
    const jobs = await gitea.waitJobs(repo, sha, 3, 120_000, () => runner.current().output());
    const j = new Judge();
    for (const f of ["alpha", "beta"]) {
      const b = j.state(jobs, `build (${f})`, "success");
      const rows = await logOf(gitea, repo, b);
      j.has(`build (${f})`, rows, `job=build workflow=Matrix CI flavour=${f}`);
    }
    const report = j.state(jobs, "Matrix CI / report", "success");
    j.has("report", await logOf(gitea, repo, report), /^needs result=success artefact=built-(alpha|beta) job=report$/);
    return j.done();
  },
};

export const secretsScenario: Scenario = {
  name: "secrets masking (stored on the server)",
  async run({ gitea, unique, runner }) {
    const repo = `secrets-${unique}`;
    const plain = `pl41n-${unique}-s3cr3t`;
    const multi = `first-line-${unique}\nsecond-line-${unique}`;
    const sha = await gitea.createRepo(repo, {
      [`${wfDir}/ci.yml`]: `on: push
jobs:
  leak:
    runs-on: native
    steps:
      - run: |
          echo "plain=\${{ secrets.PLAIN }}"
          echo "env=$PLAIN_ENV"
          printf '%s\\n' "$MULTI_ENV"
          echo "b64=$(printf %s "$PLAIN_ENV" | base64)"
        env:
          PLAIN_ENV: \${{ secrets.PLAIN }}
          MULTI_ENV: \${{ secrets.MULTI }}
`,
    }, { secrets: { PLAIN: plain, MULTI: multi } });
    const jobs = await gitea.waitJobs(repo, sha, 1, 120_000, () => runner.current().output());
    const j = new Judge();
    const leak = j.state(jobs, "leak", "success");
    const rows = await logOf(gitea, repo, leak);
    j.has("leak", rows, /^plain=\*\*\*$/);
    j.has("leak", rows, /^env=\*\*\*$/);
    for (const s of [plain, `first-line-${unique}`, `second-line-${unique}`, Buffer.from(plain).toString("base64")]) j.hasNot("leak", rows, s);
    return j.done();
  },
};

/**
 * A busy step: `lines` log lines (83 bytes each with the newline) with a
 * stored secret among them. Every row must reach the server, in order, and
 * the secret must not; the figure is the step's start → the job seen done.
 */
export function busyLogScenario(lines: number): Scenario {
  const line = "the quick brown fox jumps over the lazy dog 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  return {
    name: `busy log: ${lines.toLocaleString("en")} lines (${((lines * (line.length + 1)) / 1e6).toFixed(1)} MB) with a secret`,
    async run({ gitea, unique, runner }) {
      const repo = `busy-${unique}`;
      const secret = `bu5y-${unique}-s3cr3t`;
      const sha = await gitea.createRepo(repo, {
        [`${wfDir}/ci.yml`]: `on: push
jobs:
  busy:
    runs-on: native
    steps:
      - run: |
          echo "start=$(date +%s%3N)"
          { yes "${line}" || true; } | head -n ${lines - 1}
          echo "secret=\${{ secrets.PLAIN }}"
          echo "${line}"
          echo "end-of-log"
`,
      }, { secrets: { PLAIN: secret } });
      const jobs = await gitea.waitJobs(repo, sha, 1, 600_000, () => runner.current().output());
      const doneSeen = Date.now();
      const j = new Judge();
      const busy = j.state(jobs, "busy", "success");
      const rows = await logOf(gitea, repo, busy);
      const start = rows.findIndex((r) => r.startsWith("start="));
      const body = start >= 0 ? rows.slice(start + 1) : [];
      const copies = body.filter((r) => r === line).length;
      j.check("busy: every line reached the server", copies === lines, `${copies} of ${lines}`);
      j.check("busy: in order", body[lines - 1] === "secret=***" && body[lines] === line && body[lines + 1] === "end-of-log", JSON.stringify(body.slice(lines - 1, lines + 2)));
      j.hasNot("busy", rows, secret);
      const startMs = start >= 0 ? Number(rows[start]!.slice(6)) : NaN;
      const mb = (lines * (line.length + 1)) / 1e6;
      const seconds = (doneSeen - startMs) / 1000;
      return { ...j.done(), figure: `step start → job seen done (status polled every 250 ms): ${seconds.toFixed(2)} s, ${(mb / seconds).toFixed(1)} MB/s` };
    },
  };
}

export const cancelScenario: Scenario = {
  name: "cancel from the server: background process, always()",
  async run({ gitea, unique, runner }) {
    const repo = `cancel-${unique}`;
    const bgName = `nr-e2e-bg-${unique}`;
    const sha = await gitea.createRepo(repo, {
      [`${wfDir}/ci.yml`]: `on: push
jobs:
  long:
    runs-on: native
    steps:
      - run: |
          bash -c 'exec -a ${bgName} sleep 1000' &
          echo "background started"
          sleep 600
      - if: always()
        run: echo "always step ran"
      - run: echo "must not run"
`,
    });
    const j = new Judge();
    // Wait for the first step to be running, then cancel the run as a user would.
    const { run, job } = await waitForRow(gitea, repo, sha, "background started", runner);
    await gitea.cancelRun(repo, run);
    const jobs = await gitea.waitJobs(repo, sha, 1, 60_000);
    j.state(jobs, "long", "failure");
    // The runner closes the log after the server marked the job cancelled.
    let rows: string[] = [];
    for (let i = 0; i < 100; i++) {
      rows = await gitea.jobLog(repo, run, job);
      if (rows.includes("always step ran")) break;
      await sleep(200);
    }
    const state = await gitea.jobState(repo, run, job);
    j.check("job cancelled on the server", state.run.jobs[0]?.status === "cancelled", state.run.jobs[0]?.status);
    j.has("long", rows, "always step ran");
    j.hasNot("long", rows, { line: "must not run" });
    j.check("background process killed after the cancel", await gone(bgName));
    return j.done();
  },
};

export const timeoutScenario: Scenario = {
  name: "job timeout-minutes",
  async run({ gitea, unique, runner }) {
    const repo = `timeout-${unique}`;
    const sha = await gitea.createRepo(repo, {
      [`${wfDir}/ci.yml`]: `on: push
jobs:
  slow:
    runs-on: native
    timeout-minutes: 0.05
    steps:
      - run: sleep 120; echo "slept $((60 + 60))"
      - if: always()
        run: echo "cleanup after timeout"
`,
    });
    const jobs = await gitea.waitJobs(repo, sha, 1, 150_000, () => runner.current().output());
    const j = new Judge();
    const slow = j.state(jobs, "slow", "failure");
    const rows = await logOf(gitea, repo, slow);
    j.hasNot("slow", rows, { line: "slept 120" });
    j.has("slow", rows, "cleanup after timeout");
    return j.done();
  },
};

export const cacheScenario: Scenario = {
  name: "actions/cache across two runs",
  async run({ gitea, unique, runner }) {
    const repo = `cache-${unique}`;
    const wf = `on: push
jobs:
  cached:
    runs-on: native
    steps:
      - uses: actions/cache@v4
        id: cache
        with:
          path: cached-dir
          key: e2e-${unique}
      - run: |
          if [ -f cached-dir/stamp ]; then echo "from cache: $(cat cached-dir/stamp)"; else mkdir -p cached-dir; echo "stamp-${unique}" > cached-dir/stamp; echo "cache was empty"; fi
          echo "hit=\${{ steps.cache.outputs.cache-hit }}"
`;
    const first = await gitea.createRepo(repo, { [`${wfDir}/ci.yml`]: wf });
    const j = new Judge();
    const a = j.state(await gitea.waitJobs(repo, first, 1, 150_000, () => runner.current().output()), "cached", "success");
    j.has("first run", await logOf(gitea, repo, a), "cache was empty");
    const second = await gitea.push(repo, {}, "second run");
    const b = j.state(await gitea.waitJobs(repo, second, 1, 150_000, () => runner.current().output()), "cached", "success");
    const rows = await logOf(gitea, repo, b);
    j.has("second run", rows, `from cache: stamp-${unique}`);
    j.has("second run", rows, "hit=true");
    return j.done();
  },
};

export const reusableScenario: Scenario = {
  name: "reusable workflows (local and owner/repo@ref)",
  async run({ gitea, unique, runner }) {
    const lib = `lib-${unique}`;
    const repo = `reuse-${unique}`;
    const owner = gitea.admin;
    await gitea.createRepo(lib, {
      [`${wfDir}/greet.yml`]: `on:
  workflow_call:
    inputs:
      who:
        type: string
        required: true
    outputs:
      greeting:
        value: \${{ jobs.greet.outputs.text }}
jobs:
  greet:
    runs-on: native
    outputs:
      text: \${{ steps.g.outputs.text }}
    steps:
      - id: g
        run: echo "text=hello-\${{ inputs.who }}" >> "$GITHUB_OUTPUT"; echo "remote greet for \${{ inputs.who }} job=$GITHUB_JOB"
`,
    });
    const sha = await gitea.createRepo(repo, {
      [`${wfDir}/local.yml`]: `on:
  workflow_call:
    inputs:
      n:
        type: number
        default: 1
    outputs:
      sum:
        value: \${{ jobs.add.outputs.sum }}
jobs:
  add:
    runs-on: native
    outputs:
      sum: \${{ steps.s.outputs.sum }}
    steps:
      - id: s
        run: |
          echo "sum=$(( \${{ inputs.n }} + 40 ))" >> "$GITHUB_OUTPUT"
          echo "secret seen: \${{ secrets.TOKEN_X }} / \${{ secrets.TOKEN_X != '' }}"
`,
      [`${wfDir}/ci.yml`]: `on: push
jobs:
  local:
    runs-on: native
    uses: ./${wfDir}/local.yml
    with:
      n: 2
    secrets: inherit
  remote:
    runs-on: native
    uses: ${owner}/${lib}/${wfDir}/greet.yml@main
    with:
      who: world
  after:
    needs: [local, remote]
    runs-on: native
    steps:
      - run: echo "sum=\${{ needs.local.outputs.sum }} greeting=\${{ needs.remote.outputs.greeting }}"
`,
    }, { secrets: { TOKEN_X: `tok-${unique}-xyz` } });
    const jobs = await gitea.waitJobs(repo, sha, 3, 150_000, () => runner.current().output());
    const j = new Judge();
    const local = j.state(jobs, "/ local", "success");
    const remote = j.state(jobs, "/ remote", "success");
    const after = j.state(jobs, "/ after", "success");
    const localRows = await logOf(gitea, repo, local);
    j.has("local", localRows, /^secret seen: \*\*\* \/ true$/);
    j.hasNot("local", localRows, `tok-${unique}-xyz`);
    j.has("remote", await logOf(gitea, repo, remote), "remote greet for world job=greet");
    j.has("after", await logOf(gitea, repo, after), "sum=42 greeting=hello-world");
    return j.done();
  },
};

export const kill9Scenario: Scenario = {
  name: "kill -9 of the daemon, restart",
  async run({ gitea, unique, runner }) {
    const repo = `kill9-${unique}`;
    const victimName = `nr-e2e-victim-${unique}`;
    const sha = await gitea.createRepo(repo, {
      [`${wfDir}/ci.yml`]: `on: push
jobs:
  victim:
    runs-on: native
    steps:
      - run: echo "victim running"; exec -a ${victimName} sleep 600
`,
    });
    await waitForRow(gitea, repo, sha, "victim running", runner);
    await runner.kill9AndRestart();
    const j = new Judge();
    // The restarted daemon finds the task it lost and fails it; the server must see the job end.
    const jobs = await gitea.waitJobs(repo, sha, 1, 90_000, () => runner.current().output()).catch((err: Error) => {
      j.check("job finalized after the restart", false, err.message.split("\n")[0]);
      return [] as JobStatus[];
    });
    if (jobs.length) {
      const victim = j.state(jobs, "victim", "failure");
      j.has("victim", await logOf(gitea, repo, victim), "victim running");
    }
    j.check("the lost job's processes were killed", await gone(victimName));
    // And the restarted daemon takes new work.
    const next = await gitea.push(repo, { [`${wfDir}/ci.yml`]: "on: push\njobs:\n  next:\n    runs-on: native\n    steps:\n      - run: echo after restart\n" });
    const n = j.state(await gitea.waitJobs(repo, next, 1, 90_000, () => runner.current().output()), "next", "success");
    j.has("next", await logOf(gitea, repo, n), "after restart");
    return j.done();
  },
};

/** Waits until the (first) job of `sha` has logged `row`; returns its run and job numbers. */
async function waitForRow(gitea: Gitea, repo: string, sha: string, row: string, runner: RunnerControl): Promise<{ run: number; job: number }> {
  const start = Date.now();
  for (;;) {
    const first = (await gitea.statuses(repo, sha)).jobs[0];
    if (first && !Number.isNaN(first.run)) {
      const rows: string[] = await gitea.jobLog(repo, first.run, first.job).catch(() => []);
      if (rows.includes(row)) return { run: first.run, job: first.job };
    }
    if (Date.now() - start > 90_000) throw new Error(`no log row ${JSON.stringify(row)} after 90 s:\n${runner.current().output()}`);
    await sleep(200);
  }
}

/** True once no process has `name` as its argv[0] (within 10 s); kills leftovers so that nothing outlives the test. */
async function gone(name: string): Promise<boolean> {
  const find = () =>
    readdirSync("/proc")
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        try {
          return readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0")[0] === name;
        } catch {
          return false;
        }
      })
      .map(Number);
  for (let i = 0; i < 50; i++) {
    if (find().length === 0) return true;
    await sleep(200);
  }
  for (const pid of find()) spawnSync("kill", ["-9", String(pid)]);
  return false;
}

export async function runScenario(s: Scenario, ctx: ScenarioContext): Promise<ScenarioResult> {
  const t0 = Date.now();
  const r = await s.run(ctx);
  return { ...r, wallMs: Date.now() - t0 };
}
