import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const ENTRY = path.join(ROOT, "src/cli/entry.ts");

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], home: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", ENTRY, ...args], {
      cwd: ROOT,
      env: { ...process.env, HOME: home, XDG_STATE_HOME: path.join(home, "state"), XDG_CACHE_HOME: path.join(home, "cache"), NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The installed entry point, started as a user starts it (its own shebang line); needs dist/ built. */
const BIN = path.join(ROOT, "bin/native-runner.js");
function binCli(args: string[], home: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, {
      cwd: home,
      env: { ...process.env, HOME: home, XDG_STATE_HOME: path.join(home, "state"), XDG_CACHE_HOME: path.join(home, "cache"), NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts the CLI, sends SIGINT once `trigger` appears on stdout. */
function cliInterrupted(args: string[], home: string, trigger: string): Promise<CliResult & { interruptedAt: number; endedAt: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", ENTRY, ...args], {
      cwd: ROOT,
      env: { ...process.env, HOME: home, XDG_STATE_HOME: path.join(home, "state"), XDG_CACHE_HOME: path.join(home, "cache"), NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let interruptedAt = 0;
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (!interruptedAt && stdout.includes(trigger)) {
        interruptedAt = Date.now();
        child.kill("SIGINT");
      }
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr, interruptedAt, endedAt: Date.now() }));
  });
}

function gitRepo(files: Record<string, string>): { root: string; home: string; cleanup: () => void } {
  const base = mkdtempSync(path.join(tmpdir(), "nr-exec-"));
  const root = path.join(base, "repo");
  const home = path.join(base, "home");
  mkdirSync(home);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  const git = (...a: string[]) => execFileSync("git", a, { cwd: root, stdio: "ignore" });
  git("init", "-q", "-b", "main");
  git("-c", "user.name=Tester", "-c", "user.email=t@example.com", "add", "-A");
  git("-c", "user.name=Tester", "-c", "user.email=t@example.com", "commit", "-qm", "init");
  git("remote", "add", "origin", "https://forge.example/alice/webapp.git");
  return { root, home, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

type Ev = Record<string, unknown> & { type: string };
const events = (out: string): Ev[] => out.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Ev);
const finishOf = (evs: Ev[], job: string) => evs.find((e) => e.type === "job-finish" && e.job === job);
const logsOf = (evs: Ev[], job: string) => evs.filter((e) => e.type === "log" && e.job === job).map((e) => String(e.line));

const MAIN = `name: main
on: [push]
jobs:
  build:
    runs-on: native
    strategy:
      matrix:
        node: [18, 20]
    outputs:
      version: \${{ steps.v.outputs.version }}
    steps:
      - id: v
        name: Compute version
        run: |
          echo "::group::details"
          echo "node \${{ matrix.node }}"
          echo "::endgroup::"
          echo "version=1.\${{ matrix.node }}" >> "$GITHUB_OUTPUT"
          echo "::warning file=src/a.ts,line=3::look here"
          echo "### built \${{ matrix.node }}" >> "$GITHUB_STEP_SUMMARY"
  list:
    runs-on: native
    outputs:
      items: \${{ steps.l.outputs.items }}
    steps:
      - id: l
        run: echo 'items=["x","y"]' >> "$GITHUB_OUTPUT"
  fan:
    needs: list
    runs-on: native
    strategy:
      fail-fast: false
      matrix:
        item: \${{ fromJSON(needs.list.outputs.items) }}
    steps:
      - run: test "\${{ matrix.item }}" != y
  report:
    needs: [build, fan]
    if: \${{ always() && needs.fan.result == 'failure' }}
    runs-on: native
    steps:
      - run: echo "build=\${{ needs.build.result }} version=\${{ needs.build.outputs.version }} fan=\${{ needs.fan.result }}"
  skipped:
    needs: fan
    runs-on: native
    steps:
      - run: echo should not run
  on-failure:
    needs: fan
    if: failure()
    runs-on: native
    steps:
      - run: echo "repo=\${{ github.repository }} event=\${{ github.event_name }} ref=\${{ github.ref }}"
`;

describe("exec end to end", { concurrency: 3 }, () => {
  test("matrix, needs and outputs, if with needs results, failure exit code (--json)", async () => {
    const r = gitRepo({ ".forgejo/workflows/main.yml": MAIN });
    try {
      const res = await cli(["exec", "-C", r.root, "--json"], r.home);
      assert.equal(res.code, 1, res.stderr);
      const evs = events(res.stdout);

      for (const key of ["build-1", "build-2"]) assert.equal(finishOf(evs, key)?.result, "success");
      assert.deepEqual(finishOf(evs, "build-1")?.matrix, { node: 18 });
      assert.equal(finishOf(evs, "build-2")?.name, "build (20)");
      assert.match(String((finishOf(evs, "build-1")?.outputs as Record<string, string>).version), /^1\.(18|20)$/);

      assert.equal(finishOf(evs, "fan-1")?.result, "success");
      assert.equal(finishOf(evs, "fan-2")?.result, "failure");
      assert.equal(finishOf(evs, "skipped")?.result, "skipped");
      assert.ok(!evs.some((e) => e.type === "job-start" && e.job === "skipped"));

      assert.equal(finishOf(evs, "report")?.result, "success");
      assert.ok(logsOf(evs, "report").some((l) => /^build=success version=1\.(18|20) fan=failure$/.test(l)), logsOf(evs, "report").join("\n"));
      assert.ok(logsOf(evs, "on-failure").includes("repo=alice/webapp event=push ref=refs/heads/main"), logsOf(evs, "on-failure").join("\n"));

      const stepFinish = evs.find((e) => e.type === "step-finish" && e.job === "build-1")!;
      assert.equal(stepFinish.name, "Compute version");
      assert.equal(stepFinish.id, "v");
      assert.equal(stepFinish.outcome, "success");
      assert.deepEqual(stepFinish.outputs, { version: "1.18" });
      const stepStart = evs.find((e) => e.type === "step-start" && e.job === "build-1")!;
      assert.equal(stepStart.index, 0);
      assert.ok(evs.some((e) => e.type === "log" && e.job === "build-1" && e.step === 0 && e.line === "node 18"));

      const ann = evs.find((e) => e.type === "annotation" && e.job === "build-1" && e.level === "warning")!;
      assert.deepEqual([ann.file, ann.line, ann.message], ["src/a.ts", 3, "look here"]);
      const summary = evs.find((e) => e.type === "summary" && e.job === "build-2")!;
      assert.match(String(summary.markdown), /### built 20/);

      const runFinish = evs.at(-1)!;
      assert.equal(runFinish.type, "run-finish");
      assert.equal(runFinish.result, "failure");
    } finally {
      r.cleanup();
    }
  });

  test("human output: prefixes, groups, step results, annotations, summary, final table", async () => {
    const r = gitRepo({
      ".forgejo/workflows/ok.yml": `on: push
jobs:
  build:
    runs-on: native
    strategy:
      matrix:
        node: [20]
    steps:
      - name: Greet
        run: |
          echo "::group::inner"
          echo hello
          echo "::endgroup::"
          echo "::warning file=a.ts,line=3::careful"
          echo "# Done" >> "$GITHUB_STEP_SUMMARY"
`,
    });
    try {
      const res = await cli(["exec", "-C", r.root], r.home);
      assert.equal(res.code, 0, res.stderr + res.stdout);
      const out = res.stdout;
      assert.doesNotMatch(out, /\x1b\[/, "no colors without a TTY");
      assert.match(out, /^\[build \(20\)\] ▶ Job build \(20\)$/m);
      assert.match(out, /^\[build \(20\)\] +▸ inner$/m);
      assert.match(out, /^\[build \(20\)\] +│ hello$/m);
      assert.match(out, /^\[build \(20\)\] warning a\.ts:3 careful$/m);
      assert.match(out, /^\[build \(20\)\] ✓ Greet \d+(ms|\.\ds)$/m);
      assert.match(out, /^\[build \(20\)\] ☰ Job summary$/m);
      assert.match(out, /^\[build \(20\)\] +│ # Done$/m);
      assert.match(out, /^JOB +RESULT +DURATION$/m);
      assert.match(out, /^build \(20\) +success +\d/m);
      assert.equal(out.match(/│ # Done$/gm)?.length, 1, "the summary is shown once");
    } finally {
      r.cleanup();
    }
  });

  test("reusable local workflow with inputs, secrets and outputs", async () => {
    const r = gitRepo({
      ".forgejo/workflows/main.yml": `on: push
jobs:
  call:
    uses: ./.forgejo/workflows/greet.yml
    with:
      who: world
    secrets:
      PASS: \${{ secrets.MY_PASS }}
  use:
    needs: call
    runs-on: native
    steps:
      - run: echo "got=\${{ needs.call.outputs.greeting }} result=\${{ needs.call.result }}"
`,
      ".forgejo/workflows/greet.yml": `on:
  workflow_call:
    inputs:
      who: { type: string, required: true }
    secrets:
      PASS: { required: true }
    outputs:
      greeting:
        value: \${{ jobs.hello.outputs.g }}
jobs:
  hello:
    runs-on: native
    outputs:
      g: \${{ steps.s.outputs.g }}
    steps:
      - id: s
        run: |
          echo "g=hi \${{ inputs.who }}" >> "$GITHUB_OUTPUT"
          test "\${{ secrets.PASS }}" = s3cret && echo "secret ok \${{ secrets.PASS }}"
`,
    });
    try {
      const res = await cli(["exec", "-C", r.root, "--json", "-s", "MY_PASS=s3cret"], r.home);
      assert.equal(res.code, 0, res.stderr + res.stdout);
      const evs = events(res.stdout);
      assert.equal(finishOf(evs, "call.hello")?.result, "success");
      assert.equal(finishOf(evs, "call.hello")?.name, "call / hello");
      assert.equal(finishOf(evs, "call.hello")?.parent, "call");
      assert.deepEqual(finishOf(evs, "call")?.outputs, { greeting: "hi world" });
      assert.ok(logsOf(evs, "use").includes("got=hi world result=success"), logsOf(evs, "use").join("\n"));
      assert.ok(logsOf(evs, "call.hello").includes("secret ok ***"), "secrets are masked in logs");
      assert.ok(!res.stdout.includes("s3cret"));
    } finally {
      r.cleanup();
    }
  });

  test("an invalid workflow is refused before any job runs", async () => {
    const r = gitRepo({
      ".forgejo/workflows/good.yml": `on: push
jobs:
  marker:
    runs-on: native
    steps:
      - run: touch "$GITHUB_WORKSPACE/ran"
`,
      ".forgejo/workflows/bad.yml": `on: push
jobs:
  a:
    runs-on: native
    stepz:
      - run: echo
`,
    });
    try {
      const res = await cli(["exec", "-C", r.root, "--json"], r.home);
      assert.equal(res.code, 1);
      assert.match(res.stderr, /\.forgejo\/workflows\/bad\.yml \(Line: 5, Col: 5\): Unexpected value 'stepz'/);
      assert.equal(res.stdout, "");
      assert.ok(!existsSync(path.join(r.root, "ran")));

      const v = await cli(["validate", "-C", r.root], r.home);
      assert.equal(v.code, 1);
      assert.match(v.stderr, /\.forgejo\/workflows\/bad\.yml \(Line: 5, Col: 5\): Unexpected value 'stepz'/);
      assert.match(v.stdout, /good\.yml: valid workflow/);

      const one = await cli(["validate", "-C", r.root, "-W", ".forgejo/workflows/good.yml"], r.home);
      assert.equal(one.code, 0, one.stderr);
    } finally {
      r.cleanup();
    }
  });

  test("workflow_dispatch inputs are typed; -s, --var, --env, -j reach the job", async () => {
    const r = gitRepo({
      ".forgejo/workflows/d.yml": `on:
  workflow_dispatch:
    inputs:
      flag: { type: boolean, default: false }
      count: { type: number, default: 2 }
      level: { type: choice, options: [low, high], default: low }
jobs:
  show:
    runs-on: native
    steps:
      - run: |
          echo "flag=\${{ inputs.flag == true }} count=\${{ inputs.count == 5 }} level=\${{ inputs.level }}"
          echo "event=\${{ github.event.inputs.flag }} var=\${{ vars.COLOR }} env=$EXTRA"
  other:
    runs-on: native
    steps:
      - run: exit 1
`,
    });
    try {
      const res = await cli(
        ["exec", "-C", r.root, "--json", "-E", "workflow_dispatch", "--input", "flag=true", "--input", "count=5", "--var", "COLOR=blue", "--env", "EXTRA=x1", "-j", "show"],
        r.home,
      );
      assert.equal(res.code, 0, res.stderr + res.stdout);
      const evs = events(res.stdout);
      const logs = logsOf(evs, "show");
      assert.ok(logs.includes("flag=true count=true level=low"), logs.join("\n"));
      assert.ok(logs.includes("event=true var=blue env=x1"), logs.join("\n"));
      assert.ok(!evs.some((e) => e.job === "other"), "-j runs only that job");

      // A single -W file that push does not trigger runs with its own event.
      const auto = await cli(["exec", "-C", r.root, "--json", "-W", ".forgejo/workflows/d.yml", "-j", "show", "--input", "level=high"], r.home);
      assert.equal(auto.code, 0, auto.stderr);
      assert.match(auto.stderr, /using the only event the workflows have: 'workflow_dispatch'/);
      assert.ok(logsOf(events(auto.stdout), "show").includes("flag=false count=false level=high"), auto.stdout);

      const bad = await cli(["exec", "-C", r.root, "-E", "workflow_dispatch", "--input", "level=medium"], r.home);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /'level' must be one of 'low', 'high'/);
    } finally {
      r.cleanup();
    }
  });

  test("--list", async () => {
    const r = gitRepo({ ".forgejo/workflows/main.yml": MAIN });
    try {
      const list = await cli(["exec", "-C", r.root, "-l"], r.home);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /^WORKFLOW +JOB +NAME +NEEDS +EVENTS$/m);
      assert.match(list.stdout, /^main\.yml +report +report +build,fan +push$/m);

    } finally {
      r.cleanup();
    }
  });

  test("--dryrun runs nothing", async () => {
    const r = gitRepo({
      ".forgejo/workflows/w.yml": `on: push
jobs:
  a:
    runs-on: native
    strategy:
      matrix:
        n: [1, 2]
    steps:
      - name: touch
        run: touch "$GITHUB_WORKSPACE/ran-\${{ matrix.n }}"
  b:
    needs: a
    runs-on: native
    steps:
      - run: exit 1
`,
    });
    try {
      const dry = await cli(["exec", "-C", r.root, "-n", "--json"], r.home);
      assert.equal(dry.code, 0, dry.stderr);
      const evs = events(dry.stdout);
      assert.deepEqual(
        evs.filter((e) => e.type === "job-finish").map((e) => [e.name, e.result]).sort(),
        [["a (1)", "success"], ["a (2)", "success"], ["b", "success"]],
      );
      assert.ok(evs.some((e) => e.type === "step-finish" && e.job === "a-1" && e.name === "touch"));
      assert.ok(!existsSync(path.join(r.root, "ran-1")));
    } finally {
      r.cleanup();
    }
  });

  test("Ctrl-C cancels the run: the step is killed, dependents cancelled, always() still runs", async () => {
    const r = gitRepo({
      ".forgejo/workflows/slow.yml": `on: push
jobs:
  slow:
    runs-on: native
    steps:
      - run: echo started-slow; sleep 60; echo never-here
  next:
    needs: slow
    runs-on: native
    steps:
      - run: echo should not run
  cleanup:
    needs: slow
    if: always()
    runs-on: native
    steps:
      - run: echo cleanup-ran
`,
    });
    try {
      const res = await cliInterrupted(["exec", "-C", r.root, "--json"], r.home, '"line":"started-slow"');
      assert.ok(res.interruptedAt > 0, res.stdout + res.stderr);
      assert.equal(res.code, 130, res.stderr);
      const evs = events(res.stdout);
      assert.equal(finishOf(evs, "slow")?.result, "cancelled");
      assert.equal(finishOf(evs, "next")?.result, "cancelled");
      assert.equal(finishOf(evs, "cleanup")?.result, "success");
      assert.ok(logsOf(evs, "cleanup").includes("cleanup-ran"));
      assert.ok(!logsOf(evs, "slow").includes("never-here"));
      assert.equal(evs.at(-1)?.result, "cancelled");
    } finally {
      r.cleanup();
    }
  });

  test(".gitea/workflows is found as the server finds it, subdirectories too; GITHUB_WORKFLOW is the name, workflow_ref the path", async () => {
    const r = gitRepo({
      ".gitea/workflows/ci.yml": `name: Gitea CI
on: push
jobs:
  top:
    runs-on: native
    steps:
      - run: echo "wf=$GITHUB_WORKFLOW ref=\${{ github.workflow_ref }}"
`,
      ".gitea/workflows/more/nested.yml": `on: push
jobs:
  nested:
    runs-on: native
    steps:
      - run: echo "wf=$GITHUB_WORKFLOW"
`,
      ".github/workflows/ignored.yml": `on: push
jobs:
  ignored:
    runs-on: native
    steps: [{ run: echo never }]
`,
    });
    try {
      const res = await cli(["exec", "-C", r.root, "--json"], r.home);
      assert.equal(res.code, 0, res.stderr);
      const evs = events(res.stdout);
      const finished = evs.filter((e) => e.type === "job-finish").map((e) => String(e.id)).sort();
      assert.deepEqual(finished, ["nested", "top"]);
      assert.ok(logsOf(evs, "ci.top").includes("wf=Gitea CI ref=alice/webapp/.gitea/workflows/ci.yml@refs/heads/main"), logsOf(evs, "ci.top").join("\n"));
      assert.ok(logsOf(evs, "nested.nested").includes("wf=.gitea/workflows/more/nested.yml"));

      const flat = await cli(["exec", "-C", r.root, "--json", "--no-recurse"], r.home);
      assert.equal(flat.code, 0, flat.stderr);
      assert.deepEqual(events(flat.stdout).filter((e) => e.type === "job-finish").map((e) => e.id), ["top"]);

      const v = await cli(["validate", "-C", r.root], r.home);
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, /^\.gitea\/workflows\/ci\.yml: valid workflow$/m);
      assert.match(v.stdout, /^\.gitea\/workflows\/more\/nested\.yml: valid workflow$/m);
      assert.doesNotMatch(v.stdout, /ignored/);
    } finally {
      r.cleanup();
    }
  });

  test("--no-skip-checkout runs actions/checkout of the repository itself", async () => {
    const r = gitRepo({
      ".forgejo/workflows/ci.yml": `on: push
jobs:
  j:
    runs-on: native
    steps:
      - uses: actions/checkout@v4
`,
    });
    try {
      const skipped = await cli(["exec", "-C", r.root, "--json", "--action-cache-offline"], r.home);
      assert.equal(skipped.code, 0, skipped.stderr + skipped.stdout);
      assert.ok(logsOf(events(skipped.stdout), "j").some((l) => l.startsWith("Skipping actions/checkout@v4")));
      // Run for real: offline, with nothing cached, the action cannot even be fetched.
      const run = await cli(["exec", "-C", r.root, "--json", "--action-cache-offline", "--no-skip-checkout"], r.home);
      assert.equal(run.code, 1);
      const lines = logsOf(events(run.stdout), "j");
      assert.ok(!lines.some((l) => l.startsWith("Skipping")), lines.join("\n"));
      assert.ok(lines.some((l) => l.startsWith("##[error]") && /checkout/.test(l)), lines.join("\n"));
    } finally {
      r.cleanup();
    }
  });

  test("--env-file reaches the jobs through the installed entry point (node does not take it); .env is read by default", { skip: !existsSync(path.join(ROOT, "dist/native-runner.js")) && "dist/ is not built" }, async () => {
    const r = gitRepo({
      ".forgejo/workflows/ci.yml": `on: push
jobs:
  j:
    runs-on: native
    steps:
      - run: echo "default=\${FROM_DEFAULT:-unset} custom=\${FROM_CUSTOM:-unset} both=\${BOTH:-unset}"
`,
      ".env": "FROM_DEFAULT=yes\nBOTH=dotenv\n",
      "custom.env": "# a comment\nFROM_CUSTOM=file\nBOTH=file\n",
    });
    try {
      const line = (res: CliResult) => logsOf(events(res.stdout), "j").find((l) => l.startsWith("default="));
      const byDefault = await binCli(["exec", "-C", r.root, "--json"], r.home);
      assert.equal(byDefault.code, 0, byDefault.stderr);
      assert.equal(line(byDefault), "default=yes custom=unset both=dotenv");
      const named = await binCli(["exec", "-C", r.root, "--json", "--env-file", "custom.env", "--env", "BOTH=flag"], r.home);
      assert.equal(named.code, 0, named.stderr);
      assert.equal(line(named), "default=unset custom=file both=flag", "a named file replaces .env; --env wins");
      const missing = await binCli(["exec", "-C", r.root, "--json", "--env-file", "missing.env"], r.home);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /^exec: --env-file missing\.env: .*ENOENT/m);
      assert.equal(missing.stdout, "");
    } finally {
      r.cleanup();
    }
  });

  test("-d, --insecure-secrets, --use-gitignore", async () => {
    const r = gitRepo({
      ".forgejo/workflows/ci.yml": `on: push
jobs:
  j:
    runs-on: native
    steps:
      - run: |
          echo "::debug::a debug line"
          echo "secret is \${{ secrets.MY_SECRET }}"
`,
    });
    try {
      const plain = await cli(["exec", "-C", r.root, "--json", "-s", "MY_SECRET=hunter2"], r.home);
      assert.equal(plain.code, 0, plain.stderr);
      let lines = logsOf(events(plain.stdout), "j");
      assert.ok(lines.includes("secret is ***"), lines.join("\n"));
      assert.ok(!lines.includes("##[debug]a debug line"));
      const loud = await cli(["exec", "-C", r.root, "--json", "-s", "MY_SECRET=hunter2", "-d", "--insecure-secrets", "--use-gitignore", "false"], r.home);
      assert.equal(loud.code, 0, loud.stderr);
      lines = logsOf(events(loud.stdout), "j");
      assert.ok(lines.includes("secret is hunter2"), lines.join("\n"));
      assert.ok(lines.includes("##[debug]a debug line"), lines.join("\n"));
    } finally {
      r.cleanup();
    }
  });

  test("without -E: the only event of the workflows, or with --detect-event the first one, else push", async () => {
    const wf = (on: string, job: string) => `on: ${on}
jobs:
  ${job}:
    runs-on: native
    steps:
      - run: echo "\${{ github.event_name }}"
`;
    const only = gitRepo({ ".forgejo/workflows/a.yml": wf("workflow_dispatch", "a"), ".forgejo/workflows/b.yml": wf("[workflow_dispatch]", "b") });
    const two = gitRepo({ ".forgejo/workflows/a.yml": wf("pull_request", "a"), ".forgejo/workflows/b.yml": wf("[issues, pull_request]", "b") });
    try {
      const res = await cli(["exec", "-C", only.root, "--json"], only.home);
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stderr, /using the only event the workflows have: 'workflow_dispatch'/);
      assert.equal(events(res.stdout).filter((e) => e.type === "job-finish").length, 2);

      const push = await cli(["exec", "-C", two.root, "--json"], two.home);
      assert.equal(push.code, 0, push.stderr);
      assert.match(push.stderr, /no workflow is triggered by 'push'/);
      const detected = await cli(["exec", "-C", two.root, "--json", "--detect-event"], two.home);
      assert.equal(detected.code, 0, detected.stderr);
      assert.match(detected.stderr, /using the first event of a\.yml: 'pull_request'/);
      const evs = events(detected.stdout);
      assert.deepEqual(evs.filter((e) => e.type === "job-finish").map((e) => e.id).sort(), ["a", "b"]);
      assert.ok(logsOf(evs, "a.a").includes("pull_request"));
    } finally {
      only.cleanup();
      two.cleanup();
    }
  });

  test("the run summary names each failed job's failed step and first error line, and why a job was skipped", async () => {
    const r = gitRepo({
      ".forgejo/workflows/ci.yml": `on: push
jobs:
  build:
    runs-on: native
    steps:
      - run: echo fine
      - name: Compile
        run: |
          echo "compiler says no" >&2
          exit 3
  deploy:
    needs: build
    runs-on: native
    steps: [{ run: echo never }]
  docs:
    if: github.event_name == 'pull_request'
    runs-on: native
    steps: [{ run: echo never }]
  notify:
    needs: build
    if: failure()
    runs-on: native
    steps: [{ run: echo notified }]
`,
    });
    try {
      const res = await cli(["exec", "-C", r.root], r.home);
      assert.equal(res.code, 1);
      const table = res.stdout.slice(res.stdout.indexOf("\nJOB "));
      const lines = table.split("\n");
      const after = (row: RegExp) => lines[lines.findIndex((l) => row.test(l)) + 1];
      assert.equal(after(/^build +failure /), "  └ step 'Compile' failed: Process completed with exit code 3.", table);
      assert.equal(after(/^deploy +skipped /), "  └ skipped: needed job 'build' failed", table);
      assert.equal(after(/^docs +skipped /), "  └ skipped: if: github.event_name == 'pull_request' is false", table);
      assert.ok(!(after(/^notify +success /) ?? "").startsWith("  └"), "a job that succeeded has no note");

      const json = await cli(["exec", "-C", r.root, "--json"], r.home);
      const finish = finishOf(events(json.stdout), "deploy");
      assert.equal(finish?.reason, "needed job 'build' failed");
    } finally {
      r.cleanup();
    }
  });

  test("validate --action checks action.yml files", async () => {
    const r = gitRepo({
      "actions/good/action.yml": `name: good
description: ok
runs:
  using: composite
  steps:
    - run: echo hi
      shell: bash
`,
      "actions/bad/action.yml": `name: bad
runs:
  using: node99
  main: index.js
`,
    });
    try {
      const res = await cli(["validate", "--action", "-C", r.root, "-W", "actions"], r.home);
      assert.equal(res.code, 1);
      assert.match(res.stderr, /^actions\/bad\/action\.yml \(Line: \d+, Col: \d+\): .*node99/m);
      assert.match(res.stdout, /actions\/good\/action\.yml: valid action/);
      const good = await cli(["validate", "-C", r.root, "-W", "actions/good/action.yml"], r.home);
      assert.equal(good.code, 0, good.stderr);
    } finally {
      r.cleanup();
    }
  });

  test("validate a whole repository: workflows and every action.yml, in -C or in a clone (--repository, --clonedir)", async () => {
    const r = gitRepo({
      ".forgejo/workflows/ci.yml": `on: push
jobs:
  a:
    runs-on: native
    steps:
      - uses: ./.forgejo/actions/good
`,
      ".forgejo/actions/good/action.yml": `name: good
description: ok
runs:
  using: composite
  steps:
    - run: echo hi
      shell: bash
`,
      "tools/bad/action.yaml": `name: bad
runs:
  using: node99
  main: index.js
`,
    });
    try {
      const check = (res: CliResult, prefix: string) => {
        assert.equal(res.code, 1, res.stderr);
        assert.match(res.stderr, new RegExp(`^${prefix}tools/bad/action\\.yaml \\(Line: \\d+, Col: \\d+\\): .*node99`, "m"));
        assert.match(res.stdout, new RegExp(`^${prefix}\\.forgejo/workflows/ci\\.yml: valid workflow$`, "m"));
        assert.match(res.stdout, new RegExp(`^${prefix}\\.forgejo/actions/good/action\\.yml: valid action$`, "m"));
      };
      check(await cli(["validate", "-C", r.root], r.home), "");
      const onlyWorkflows = await cli(["validate", "-C", r.root, "--workflow"], r.home);
      assert.equal(onlyWorkflows.code, 0, onlyWorkflows.stderr);
      assert.doesNotMatch(onlyWorkflows.stdout, /action/);

      // A clone into a temporary directory, removed afterwards: paths are shown relative to the clone.
      check(await cli(["validate", "--repository", r.root], r.home), "");
      const clonedir = path.join(r.home, "clone");
      check(await cli(["validate", "--repository", r.root, "--clonedir", clonedir], r.home), "");
      assert.ok(existsSync(path.join(clonedir, "tools/bad/action.yaml")), "--clonedir keeps the clone");
      // An existing clone directory is validated as it is (no second clone).
      writeFileSync(path.join(clonedir, "tools/bad/action.yaml"), "name: fixed\ndescription: d\nruns:\n  using: node20\n  main: index.js\n");
      const fixed = await cli(["validate", "--repository", r.root, "--clonedir", clonedir], r.home);
      assert.equal(fixed.code, 0, fixed.stderr);
      const missing = await cli(["validate", "--repository", path.join(r.home, "no-such-repo")], r.home);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /git clone .* failed/);
    } finally {
      r.cleanup();
    }
  });

  test("the README's example runs: matrix, outputs, needs, summary", async () => {
    const home = mkdtempSync(path.join(tmpdir(), "nr-exec-home-"));
    try {
      const res = await cli(["exec", "-C", path.join(ROOT, "examples/hello"), "--json"], home);
      assert.equal(res.code, 0, res.stderr + res.stdout);
      const evs = events(res.stdout);
      assert.deepEqual(
        evs.filter((e) => e.type === "job-finish").map((e) => [e.name, e.result]).sort(),
        [["greet forgejo", "success"], ["greet world", "success"], ["summary", "success"]],
      );
      const summary = evs.find((e) => e.type === "summary" && e.job === "summary");
      assert.match(String(summary?.markdown), /## Greetings[\s\S]*\| greet \| success \|[\s\S]*Last message: \*\*Hello, (world|forgejo)! /);
      assert.ok(evs.some((e) => e.type === "annotation" && e.level === "notice" && e.title === "Greeting"));
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
