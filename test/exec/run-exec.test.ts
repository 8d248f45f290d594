import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { JobOutcome, JobRequest, RunJobOptions } from "../../src/engine/job-request.js";
import { runExec, type ExecOptions } from "../../src/exec/run-exec.js";
import { parseTaskPayload } from "../../src/workflow/parse-payload.js";

// runExec in-process with a stand-in engine: what each job is given, and the exit code.
async function exec(files: Record<string, string>, opts: Partial<ExecOptions>, result: (req: JobRequest) => JobOutcome["result"] = () => "success") {
  const base = mkdtempSync(path.join(tmpdir(), "nr-runexec-"));
  const root = path.join(base, "repo");
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  const saved = { XDG_STATE_HOME: process.env.XDG_STATE_HOME, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME };
  process.env.XDG_STATE_HOME = path.join(base, "state");
  process.env.XDG_CACHE_HOME = path.join(base, "cache");
  const requests: JobRequest[] = [];
  let stdout = "";
  let stderr = "";
  try {
    const code = await runExec(
      {
        eventName: undefined,
        secrets: [],
        vars: [],
        inputs: [],
        env: [],
        directory: root,
        json: true,
        list: false,
        dryrun: false,
        defaultActionsUrl: "https://data.forgejo.org/",
        actionCacheOffline: false,
        ...opts,
        ...(opts.secretFile ? { secretFile: path.join(root, opts.secretFile) } : {}),
      },
      {
        stdout: (s) => (stdout += s),
        stderr: (s) => (stderr += s),
        color: false,
        signal: new AbortController().signal,
        runJob: async (req: JobRequest, o: RunJobOptions) => {
          requests.push(req);
          const r = result(req);
          o.emit({ type: "job-finished", time: new Date(), result: r, outputs: {} });
          return { result: r, outputs: {} };
        },
      },
    );
    return { code, requests, stdout, stderr };
  } finally {
    Object.assign(process.env, saved);
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    rmSync(base, { recursive: true, force: true });
  }
}

const job = (name: string) => `  ${name}:\n    runs-on: native\n    steps: [{ run: echo }]\n`;

test("secrets from -s, -s NAME (environment) and --secret-file; the task token in GITHUB_TOKEN and friends", async () => {
  process.env.NR_TEST_SECRET = "from-env";
  try {
    const r = await exec(
      { ".forgejo/workflows/w.yml": `on: push\njobs:\n${job("a")}`, "secrets.env": "FILE_ONE=1\nexport FILE_TWO='two words'\nOVER=file\n" },
      { secrets: ["A=1", "NR_TEST_SECRET", "OVER=flag"], secretFile: "secrets.env", vars: ["V=x"], env: ["E=y"] },
    );
    assert.equal(r.code, 0, r.stderr);
    const req = r.requests[0]!;
    assert.equal(req.secrets.A, "1");
    assert.equal(req.secrets.NR_TEST_SECRET, "from-env");
    assert.equal(req.secrets.FILE_TWO, "two words");
    assert.equal(req.secrets.OVER, "flag", "-s wins over the file");
    assert.match(req.secrets.GITHUB_TOKEN!, /^[0-9a-f]{40}$/);
    assert.equal(req.secrets.FORGEJO_TOKEN, req.context.token);
    assert.equal(req.secrets.GITEA_TOKEN, req.context.token);
    assert.deepEqual(req.vars, { V: "x" });
    assert.deepEqual(req.runnerEnv, { E: "y" });
    assert.equal(req.defaultActionsUrl, "https://data.forgejo.org");
    assert.equal(req.context.forgejo_default_actions_url, "https://data.forgejo.org");
    assert.ok(req.extraMasks?.includes(String(req.context.forgejo_runtime_token)));
  } finally {
    delete process.env.NR_TEST_SECRET;
  }
});

test("bad flags are reported without running anything", async () => {
  const files = { ".forgejo/workflows/w.yml": `on: push\njobs:\n${job("a")}` };
  for (const opts of [{ vars: ["novalue"] }, { secrets: ["=x"] }, { inputs: ["a=1"] }, { eventFile: "/nonexistent.json" }]) {
    const r = await exec(files, opts);
    assert.equal(r.code, 1, JSON.stringify(opts));
    assert.equal(r.requests.length, 0);
    assert.match(r.stderr, /^exec: /);
  }
});

test("event selection: -E filters workflows; a lone -W file uses its own event", async () => {
  const files = {
    ".forgejo/workflows/push.yml": `on: push\njobs:\n${job("p")}`,
    ".forgejo/workflows/pr.yml": `on: [pull_request]\njobs:\n${job("q")}`,
    ".forgejo/workflows/reusable.yml": `on:\n  workflow_call:\n    inputs:\n      n: { type: number, default: 3 }\n      who: { type: string, required: true }\njobs:\n${job("r")}`,
  };
  const push = await exec(files, {});
  assert.deepEqual(push.requests.map((r) => r.context.job), ["p"]);
  assert.equal(push.requests[0]!.context.event_name, "push");

  const pr = await exec(files, { eventName: "pull_request", eventFile: undefined });
  assert.deepEqual(pr.requests.map((r) => r.context.job), ["q"]);

  const none = await exec(files, { eventName: "schedule" });
  assert.equal(none.code, 0);
  assert.match(none.stderr, /no workflow is triggered by 'schedule'/);

  const alone = await exec(files, { workflows: ".forgejo/workflows/reusable.yml", inputs: ["who=me"] });
  assert.equal(alone.code, 0, alone.stderr);
  assert.equal(alone.requests[0]!.context.event_name, "workflow_call");
  assert.deepEqual(alone.requests[0]!.inputs, { n: 3, who: "me" });
});

test("several workflows: keys and names carry the workflow; one failing job makes exit code 1", async () => {
  const files = {
    ".forgejo/workflows/one.yml": `name: One\non: push\njobs:\n${job("a")}`,
    ".forgejo/workflows/two.yml": `on: push\njobs:\n${job("a")}`,
  };
  const r = await exec(files, {}, (req) => (req.workflowFile === "two.yml" ? "failure" : "success"));
  assert.equal(r.code, 1);
  assert.deepEqual(r.requests.map((q) => q.jobKey).sort(), ["one.a", "two.a"]);
  const finishes = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.type === "job-finish");
  assert.deepEqual(finishes.map((e) => [e.name, e.result]).sort(), [["One / a", "success"], ["two.yml / a", "failure"]]);
  const payload = parseTaskPayload(r.requests[0]!.workflowYaml).value!;
  assert.equal(payload.workflow.jobs.length, 1);
});

test("an event file feeds github.event and the refs", async () => {
  const base = mkdtempSync(path.join(tmpdir(), "nr-ev-"));
  try {
    const evFile = path.join(base, "ev.json");
    writeFileSync(evFile, JSON.stringify({ ref: "refs/tags/v9", after: "c".repeat(40), custom: { x: 1 } }));
    const r = await exec({ ".forgejo/workflows/w.yml": `on: push\njobs:\n${job("a")}` }, { eventFile: evFile });
    const ctx = r.requests[0]!.context;
    assert.equal(ctx.ref, "refs/tags/v9");
    assert.equal(ctx.ref_type, "tag");
    assert.equal(ctx.ref_name, "v9");
    assert.equal(ctx.sha, "c".repeat(40));
    assert.deepEqual((ctx.event as Record<string, unknown>).custom, { x: 1 });
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
