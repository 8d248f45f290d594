import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Conclusion } from "../../src/engine/events.js";
import type { JobOutcome, JobRequest, RunJobOptions } from "../../src/engine/job-request.js";
import { PlainBackend } from "../../src/host/plain-backend.js";
import { Orchestrator, type ExecObserver, type JobFinish, type JobRef } from "../../src/exec/orchestrator.js";
import type { RunInfo } from "../../src/exec/task-context.js";
import { loadWorkflowSet } from "../../src/exec/workflow-files.js";
import { parseTaskPayload, payloadMatrix } from "../../src/workflow/parse-payload.js";
import { formatWorkflowError } from "../../src/workflow/model.js";

// A stand-in for the engine: it reads the payload like the engine does and
// answers from a script, so the orchestrator's own logic is what is tested.
type Script = (req: JobRequest, job: { id: string; matrix?: Record<string, unknown> }, signal: AbortSignal) => Promise<JobOutcome> | JobOutcome;

interface Harness {
  requests: JobRequest[];
  finished: { ref: JobRef; f: JobFinish }[];
  maxConcurrent: number;
  result(key: string): Conclusion | undefined;
}

function repo(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), "nr-orch-"));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  return root;
}

const runInfo: RunInfo = {
  repo: { repository: "o/r", owner: "o", name: "r", serverUrl: "http://localhost/", sha: "a".repeat(40), ref: "refs/heads/main", actor: "me", defaultBranch: "main" },
  eventName: "push",
  event: { ref: "refs/heads/main" },
  runId: 7,
  runNumber: 7,
  token: "t".repeat(40),
  runtimeToken: "rt",
  defaultActionsUrl: "https://data.forgejo.org",
};

async function run(
  files: Record<string, string>,
  script: Script,
  opts: { concurrency?: number; only?: string[]; signal?: AbortSignal; secrets?: Record<string, string> } = {},
): Promise<Harness & { results: Record<string, { result: Conclusion; outputs: Record<string, string> }> }> {
  const root = repo(files);
  try {
    const set = loadWorkflowSet(root, [path.join(root, ".forgejo/workflows/main.yml")]);
    assert.deepEqual(set.errors, []);
    const h: Harness = {
      requests: [],
      finished: [],
      maxConcurrent: 0,
      result(key) {
        return this.finished.find((x) => x.ref.key === key)?.f.result;
      },
    };
    let active = 0;
    const observer: ExecObserver = {
      jobStarted: () => {},
      jobEvent: () => {},
      jobFinished: (ref, f) => h.finished.push({ ref, f }),
    };
    const runJob = async (req: JobRequest, o: RunJobOptions): Promise<JobOutcome> => {
      h.requests.push(req);
      active++;
      h.maxConcurrent = Math.max(h.maxConcurrent, active);
      try {
        const parsed = parseTaskPayload(req.workflowYaml, req.workflowFile);
        assert.deepEqual(parsed.errors, [], req.workflowYaml);
        const job = parsed.value!.job;
        const m = payloadMatrix(job);
        const out = await script(req, { id: job.id, ...(m ? { matrix: m } : {}) }, o.signal);
        o.emit({ type: "job-finished", time: new Date(), result: out.result, outputs: out.outputs });
        return out;
      } finally {
        active--;
      }
    };
    const orch = new Orchestrator({
      workspaceDir: root,
      run: runInfo,
      secrets: opts.secrets ?? { GITHUB_TOKEN: "tok" },
      vars: { V: "1" },
      concurrency: opts.concurrency ?? 4,
      runJob,
      host: new PlainBackend(path.join(root, ".work")),
      observer,
      signal: opts.signal ?? new AbortController().signal,
      workflowsByPath: set.called,
    });
    const results = await orch.runWorkflow(set.workflows[0]!, {}, opts.only ? { only: opts.only } : {});
    return Object.assign(h, { results });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const ok = (outputs: Record<string, string> = {}): JobOutcome => ({ result: "success", outputs });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("jobs run in dependency order and outputs reach dependents", async () => {
  const order: string[] = [];
  const h = await run(
    {
      ".forgejo/workflows/main.yml": `on: push
jobs:
  a:
    runs-on: native
    steps: [{ run: echo }]
  b:
    needs: a
    runs-on: native
    steps: [{ run: echo }]
  c:
    needs: [a, b]
    runs-on: native
    steps: [{ run: echo }]
`,
    },
    async (req, job) => {
      order.push(job.id);
      if (job.id === "a") return ok({ x: "from-a" });
      if (job.id === "b") {
        assert.deepEqual(req.needs, { a: { result: "success", outputs: { x: "from-a" } } });
        return ok({ y: "from-b" });
      }
      assert.deepEqual(Object.keys(req.needs).sort(), ["a", "b"]);
      assert.equal(req.needs.b!.outputs.y, "from-b");
      return ok();
    },
  );
  assert.deepEqual(order, ["a", "b", "c"]);
  assert.deepEqual(h.results.c, { result: "success", outputs: {} });
});

test("the request is a Forgejo-style single-job task", async () => {
  const h = await run(
    {
      ".forgejo/workflows/main.yml": `name: wf
on: push
env: { W: w }
jobs:
  a:
    runs-on: native
    steps: [{ run: echo }]
  b:
    needs: a
    runs-on: native
    strategy:
      matrix:
        n: [1, 2]
    steps:
      - run: echo \${{ matrix.n }}
`,
    },
    () => ok(),
  );
  const b = h.requests.find((r) => r.jobKey === "b-2")!;
  assert.ok(b, h.requests.map((r) => r.jobKey).join(","));
  const parsed = parseTaskPayload(b.workflowYaml).value!;
  assert.equal(parsed.workflow.jobs.length, 1);
  assert.equal(parsed.job.name, "b (2)");
  assert.deepEqual(parsed.job.needs, [], "needs erased");
  assert.deepEqual(parsed.job.strategy!.matrix, { n: [2] });
  assert.deepEqual(parsed.workflow.env, { W: "w" });
  assert.equal(b.context.job, "b");
  assert.equal(b.context.workflow, "wf", "GitHub's github.workflow: the name");
  assert.equal(b.context.repository, "o/r");
  assert.equal(b.context.event_name, "push");
  assert.equal(b.context.run_id, "7");
  assert.equal(b.context.forgejo_default_actions_url, "https://data.forgejo.org");
  assert.equal(b.workflowFile, "main.yml");
  assert.deepEqual(b.vars, { V: "1" });
  assert.ok(b.workspaceDir);
  assert.deepEqual(b.strategy, { "fail-fast": true, "max-parallel": 2, "job-index": 1, "job-total": 2 });
});

test("concurrency limit holds; independent jobs run in parallel", async () => {
  const jobs = Array.from({ length: 6 }, (_, i) => `  j${i}:\n    runs-on: native\n    steps: [{ run: echo }]\n`).join("");
  const h = await run({ ".forgejo/workflows/main.yml": `on: push\njobs:\n${jobs}` }, async () => {
    await sleep(30);
    return ok();
  }, { concurrency: 2 });
  assert.equal(h.maxConcurrent, 2);
  assert.equal(h.requests.length, 6);
});

test("job-level if: sees needs results and status functions", async () => {
  const h = await run(
    {
      ".forgejo/workflows/main.yml": `on: push
jobs:
  bad:
    runs-on: native
    steps: [{ run: exit 1 }]
  good:
    runs-on: native
    steps: [{ run: echo }]
  default-if:
    needs: bad
    runs-on: native
    steps: [{ run: echo }]
  on-failure:
    needs: bad
    if: failure()
    runs-on: native
    steps: [{ run: echo }]
  always:
    needs: [bad, default-if]
    if: always()
    runs-on: native
    steps: [{ run: echo }]
  by-result:
    needs: [bad, good]
    if: \${{ always() && needs.bad.result == 'failure' && needs.good.result == 'success' }}
    runs-on: native
    steps: [{ run: echo }]
  after-skip:
    needs: default-if
    runs-on: native
    steps: [{ run: echo }]
  failure-after-skip:
    needs: default-if
    if: failure()
    runs-on: native
    steps: [{ run: echo }]
  vars-if:
    if: vars.V == '1' && github.event_name == 'push'
    runs-on: native
    steps: [{ run: echo }]
`,
    },
    (_req, job) => (job.id === "bad" ? { result: "failure", outputs: {} } : ok()),
  );
  assert.equal(h.result("bad"), "failure");
  assert.equal(h.result("default-if"), "skipped");
  assert.equal(h.result("on-failure"), "success");
  assert.equal(h.result("always"), "success");
  assert.equal(h.result("by-result"), "success");
  assert.equal(h.result("after-skip"), "skipped");
  // GitHub: failure() is true when any ancestor job failed (bad, behind the skipped default-if).
  assert.equal(h.result("failure-after-skip"), "success");
  assert.equal(h.result("vars-if"), "success");
  assert.ok(!h.requests.some((r) => r.context.job === "default-if"), "a skipped job never reaches the engine");
});

test("an if: error fails the job without running it", async () => {
  const h = await run(
    {
      ".forgejo/workflows/main.yml": `on: push
jobs:
  a:
    if: fromJSON('{')
    runs-on: native
    steps: [{ run: echo }]
`,
    },
    () => ok(),
  );
  assert.equal(h.result("a"), "failure");
  assert.equal(h.requests.length, 0);
});

test("matrix from fromJSON(needs...), fail-fast cancels the rest, outputs merge", async () => {
  const h = await run(
    {
      ".forgejo/workflows/main.yml": `on: push
jobs:
  gen:
    runs-on: native
    steps: [{ run: echo }]
  fan:
    needs: gen
    runs-on: native
    strategy:
      max-parallel: 1
      matrix:
        item: \${{ fromJSON(needs.gen.outputs.items) }}
    steps: [{ run: echo }]
  dep:
    needs: fan
    if: always()
    runs-on: native
    steps: [{ run: echo }]
`,
    },
    async (_req, job) => {
      if (job.id === "gen") return ok({ items: '["a","b","c"]' });
      if (job.id === "fan") {
        if (job.matrix!.item === "b") return { result: "failure", outputs: {} };
        return ok({ [`out_${String(job.matrix!.item)}`]: "v" });
      }
      return ok();
    },
  );
  assert.deepEqual(
    h.finished.filter((x) => x.ref.jobId === "fan").map((x) => [x.ref.name, x.f.result]),
    [["fan (a)", "success"], ["fan (b)", "failure"], ["fan (c)", "cancelled"]],
  );
  assert.equal(h.requests.filter((r) => r.context.job === "fan").length, 2, "c never started");
  const dep = h.requests.find((r) => r.context.job === "dep")!;
  assert.deepEqual(dep.needs.fan, { result: "failure", outputs: { out_a: "v" } });
});

test("fail-fast: false lets every instance finish; max-parallel limits instances", async () => {
  let active = 0;
  let peak = 0;
  const h = await run(
    {
      ".forgejo/workflows/main.yml": `on: push
jobs:
  m:
    runs-on: native
    strategy:
      fail-fast: false
      max-parallel: 2
      matrix:
        n: [1, 2, 3, 4, 5]
    steps: [{ run: echo }]
`,
    },
    async (_req, job) => {
      active++;
      peak = Math.max(peak, active);
      await sleep(20);
      active--;
      return job.matrix!.n === 1 ? { result: "failure", outputs: {} } : ok();
    },
    { concurrency: 5 },
  );
  assert.equal(peak, 2);
  assert.deepEqual(h.finished.map((x) => x.f.result).sort(), ["failure", "success", "success", "success", "success"]);
  assert.equal(h.results.m!.result, "failure");
});

test("fail-fast aborts running instances through the signal", async () => {
  const h = await run(
    {
      ".forgejo/workflows/main.yml": `on: push
jobs:
  m:
    runs-on: native
    strategy:
      matrix:
        n: [1, 2]
    steps: [{ run: echo }]
`,
    },
    async (_req, job, signal) => {
      if (job.matrix!.n === 1) {
        await sleep(20);
        return { result: "failure", outputs: {} };
      }
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
      return { result: "cancelled", outputs: {} };
    },
  );
  assert.equal(h.result("m-2"), "cancelled");
  assert.equal(h.results.m!.result, "failure");
});

test("job continue-on-error: dependents see success, the outcome stays failure", async () => {
  const h = await run(
    {
      ".forgejo/workflows/main.yml": `on: push
jobs:
  m:
    runs-on: native
    continue-on-error: \${{ matrix.experimental }}
    strategy:
      matrix:
        experimental: [false, true]
    steps: [{ run: echo }]
  after:
    needs: m
    runs-on: native
    steps: [{ run: echo }]
`,
    },
    (_req, job) => (job.id === "m" && job.matrix!.experimental === true ? { result: "failure", outputs: {} } : ok()),
  );
  const exp = h.finished.find((x) => x.ref.name === "m (true)")!;
  assert.deepEqual([exp.f.outcome, exp.f.result], ["failure", "success"]);
  assert.equal(h.result("after"), "success");
});

test("-j runs the job and what it needs, nothing else", async () => {
  const h = await run(
    {
      ".forgejo/workflows/main.yml": `on: push
jobs:
  a: { runs-on: native, steps: [{ run: echo }] }
  b: { needs: a, runs-on: native, steps: [{ run: echo }] }
  c: { runs-on: native, steps: [{ run: echo }] }
`,
    },
    () => ok(),
    { only: ["b"] },
  );
  assert.deepEqual(h.requests.map((r) => r.context.job).sort(), ["a", "b"]);
});

test("reusable workflow: typed inputs, secrets mapping, outputs back to the caller", async () => {
  const h = await run(
    {
      ".forgejo/workflows/main.yml": `on: push
jobs:
  call:
    uses: ./.forgejo/workflows/reusable.yml
    with:
      who: world
      n: 3
      flag: true
    secrets:
      TOKEN: \${{ secrets.MINE }}
  inherit:
    uses: ./.forgejo/workflows/reusable.yml
    with: { who: inherited }
    secrets: inherit
  after:
    needs: call
    runs-on: native
    steps: [{ run: echo }]
`,
      ".forgejo/workflows/reusable.yml": `on:
  workflow_call:
    inputs:
      who: { type: string, required: true }
      n: { type: number, default: 1 }
      flag: { type: boolean, default: false }
    secrets:
      TOKEN: { required: false }
    outputs:
      greeting:
        value: hello \${{ jobs.inner.outputs.g }}
jobs:
  inner:
    runs-on: native
    outputs:
      g: \${{ steps.s.outputs.g }}
    steps: [{ id: s, run: echo }]
`,
    },
    (req, job) => {
      if (job.id === "inner") return ok({ g: `${String(req.inputs!.who)}:${String(req.secrets.TOKEN ?? "")}` });
      return ok();
    },
    { secrets: { MINE: "m1", OTHER: "o", GITHUB_TOKEN: "tok" } },
  );
  const inner = h.requests.filter((r) => r.context.job === "inner");
  const viaMap = inner.find((r) => r.inputs!.who === "world")!;
  assert.deepEqual(viaMap.inputs, { who: "world", n: 3, flag: true });
  assert.deepEqual(viaMap.secrets, { GITHUB_TOKEN: "tok", TOKEN: "m1" });
  assert.equal(viaMap.jobKey, "call.inner");
  assert.equal(viaMap.context.workflow, ".forgejo/workflows/main.yml", "github.workflow stays the caller's (its path: it has no name)");
  const viaInherit = inner.find((r) => r.inputs!.who === "inherited")!;
  assert.deepEqual(viaInherit.inputs, { who: "inherited", n: 1, flag: false });
  assert.deepEqual(viaInherit.secrets, { MINE: "m1", OTHER: "o", GITHUB_TOKEN: "tok" });
  assert.deepEqual(h.results.call, { result: "success", outputs: { greeting: "hello world:m1" } });
  const after = h.requests.find((r) => r.context.job === "after")!;
  assert.deepEqual(after.needs.call, { result: "success", outputs: { greeting: "hello world:m1" } });
  assert.equal(h.finished.find((x) => x.ref.key === "call.inner")!.ref.name, "call / inner");
});

test("reusable workflow: call mistakes are refused before the run", () => {
  const root = repo({
    ".forgejo/workflows/main.yml": `on: push
jobs:
  call:
    uses: ./.forgejo/workflows/reusable.yml
    with:
      typo: 1
  not-callable:
    uses: ./.forgejo/workflows/push-only.yml
  missing:
    uses: ./.forgejo/workflows/nope.yml
`,
    ".forgejo/workflows/reusable.yml": `on:
  workflow_call:
    inputs:
      who: { type: string, required: true }
    secrets:
      TOKEN: { required: true }
jobs:
  inner: { runs-on: native, steps: [{ run: echo }] }
`,
    ".forgejo/workflows/push-only.yml": `on: push
jobs:
  inner: { runs-on: native, steps: [{ run: echo }] }
`,
  });
  try {
    const set = loadWorkflowSet(root, [path.join(root, ".forgejo/workflows/main.yml")]);
    const messages = set.errors.map(formatWorkflowError);
    const f = ".forgejo/workflows/main.yml";
    assert.deepEqual(messages.sort(), [
      `${f} (Line: 10, Col: 5): job 'missing': reusable workflow './.forgejo/workflows/nope.yml' not found`,
      `${f} (Line: 4, Col: 5): job 'call' calling ./.forgejo/workflows/reusable.yml: input 'who' is required but not provided`,
      `${f} (Line: 4, Col: 5): job 'call' calling ./.forgejo/workflows/reusable.yml: secret 'TOKEN' is required but not provided`,
      `${f} (Line: 6, Col: 7): job 'call' calling ./.forgejo/workflows/reusable.yml: input 'typo' is not defined in the called workflow`,
      `${f} (Line: 8, Col: 5): job 'not-callable' calling ./.forgejo/workflows/push-only.yml: the called workflow has no 'on: workflow_call' trigger`,
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("reusable workflow: an input of the wrong type fails the caller at run time", async () => {
  const h = await run(
    {
      ".forgejo/workflows/main.yml": `on: push
jobs:
  call:
    uses: ./.forgejo/workflows/reusable.yml
    with:
      n: \${{ github.event_name }}
`,
      ".forgejo/workflows/reusable.yml": `on:
  workflow_call:
    inputs:
      n: { type: number, required: true }
jobs:
  inner: { runs-on: native, steps: [{ run: echo }] }
`,
    },
    () => ok(),
  );
  assert.equal(h.results.call!.result, "failure");
  assert.equal(h.requests.length, 0);
});

test("cancellation: jobs not started yet are cancelled unless always()", async () => {
  const ctl = new AbortController();
  const h = await run(
    {
      ".forgejo/workflows/main.yml": `on: push
jobs:
  a: { runs-on: native, steps: [{ run: echo }] }
  b: { needs: a, runs-on: native, steps: [{ run: echo }] }
  c: { needs: a, if: always(), runs-on: native, steps: [{ run: echo }] }
`,
    },
    (_req, job) => {
      if (job.id === "a") {
        ctl.abort();
        return { result: "cancelled", outputs: {} };
      }
      return ok();
    },
    { signal: ctl.signal },
  );
  assert.equal(h.result("b"), "cancelled");
  assert.equal(h.result("c"), "success");
});

test("one job slot is enough for matrices of reusable-workflow calls (callers hold no slot)", async () => {
  const h = await run(
    {
      ".forgejo/workflows/main.yml": `on: push
jobs:
  call:
    strategy:
      matrix:
        n: [1, 2]
    uses: ./.forgejo/workflows/reusable.yml
    with:
      n: \${{ matrix.n }}
`,
      ".forgejo/workflows/reusable.yml": `on:
  workflow_call:
    inputs:
      n: { type: number, required: true }
    outputs:
      doubled:
        value: \${{ jobs.second.outputs.d }}
jobs:
  first: { runs-on: native, steps: [{ run: echo }] }
  second:
    needs: first
    runs-on: native
    outputs:
      d: \${{ steps.s.outputs.d }}
    steps: [{ id: s, run: echo }]
`,
    },
    async (req, job) => {
      await sleep(5);
      return job.id === "second" ? ok({ d: String(Number(req.inputs!.n) * 2) }) : ok();
    },
    { concurrency: 1 },
  );
  assert.equal(h.maxConcurrent, 1);
  assert.equal(h.requests.length, 4);
  assert.deepEqual(
    h.finished.filter((x) => x.ref.isCall).map((x) => [x.ref.name, x.f.outputs.doubled]).sort(),
    [["call (1)", "2"], ["call (2)", "4"]],
  );
  assert.deepEqual(h.finished.filter((x) => x.ref.jobId === "second").map((x) => x.ref.name).sort(), ["call (1) / second", "call (2) / second"]);
});

test("instance names follow GitHub: values appended unless the name is an expression", async () => {
  const h = await run(
    {
      ".forgejo/workflows/main.yml": `on: push
jobs:
  plain:
    name: Build
    runs-on: native
    strategy:
      matrix:
        node: [18]
        os: [linux]
    steps: [{ run: echo }]
  expr:
    name: Test on \${{ matrix.os }}
    runs-on: native
    strategy:
      matrix:
        os: [linux, mac]
    steps: [{ run: echo }]
  skipped:
    name: Never \${{ matrix.os }}
    if: false
    runs-on: native
    strategy:
      matrix:
        os: [linux]
    steps: [{ run: echo }]
`,
    },
    () => ok(),
  );
  assert.deepEqual(h.finished.map((x) => x.ref.name).sort(), ["Build (18, linux)", "Never ${{ matrix.os }}", "Test on linux", "Test on mac"]);
  const payload = parseTaskPayload(h.requests.find((r) => r.jobKey === "expr-2")!.workflowYaml).value!;
  assert.equal(payload.job.name, "Test on mac");
});

test("a remote reusable workflow is a valid workflow that exec cannot run", () => {
  const root = repo({
    ".forgejo/workflows/main.yml": `on: push
jobs:
  remote:
    uses: org/repo/.forgejo/workflows/x.yml@v1
`,
  });
  try {
    const file = path.join(root, ".forgejo/workflows/main.yml");
    const set = loadWorkflowSet(root, [file]);
    assert.deepEqual(set.errors, []);
    assert.deepEqual(set.remoteCalls.get(file)?.map(formatWorkflowError), [
      ".forgejo/workflows/main.yml (Line: 4, Col: 5): job 'remote': reusable workflow 'org/repo/.forgejo/workflows/x.yml@v1': only local references (./path/to/workflow.yml) are supported by exec",
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
