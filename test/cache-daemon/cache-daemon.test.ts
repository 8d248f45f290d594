// The actions cache end to end: the real CLI daemon (cache.enabled, capacity 2)
// takes jobs from the emulator, and the jobs' steps save and restore with the
// real @actions/cache package, both from a `run:` step and from a JavaScript
// action in the workspace. Everything is asserted through what the emulator
// received: job results, step results, job outputs and log rows.
// Jobs run in phases, two at a time; each test awaits the phases it needs.
// With isolation: none a job can leave its runtime token in the test's temp
// dir, so the test can call the cache with the job's own credentials after
// the job has ended.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { JobView } from "../emulator/types.js";
import { REPO_ROOT, setupEnv, startCli, type CliProcess, type TestEnv } from "../daemon/harness.js";

const R = randomBytes(4).toString("hex");
const KEY = `k-${R}`;
const REPO_A = "alice/webapp";
const REPO_B = "bob/tools";
const STEP = `${process.execPath} ${join(REPO_ROOT, "test/cache-daemon/fixtures/cache-step.mjs")}`;
const ACTION_SRC = join(REPO_ROOT, "test/cache/fixtures/cache-action");
const JOB_TIMEOUT = 90_000;

const expr = (s: string) => "${{ " + s + " }}";
/** sha256 over the regular files of ./tree (names and contents). */
const TREE_SUM = "(cd tree && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)";
const MAKE_TREE = (marker: string) => `mkdir -p tree/sub/deep
          echo "marker ${marker}" > tree/a.txt
          head -c 300000 /dev/urandom > tree/sub/deep/b.bin
          ln -s a.txt tree/link`;
const COPY_ACTION = `cp -r ${ACTION_SRC} ./cache-action`;

function workflow(steps: string, outputs: Record<string, string> = {}, on = "push"): string {
  const outs = Object.entries(outputs).map(([k, v]) => `      ${k}: ${expr(v)}\n`).join("");
  return `
on: ${on}
jobs:
  cache:
    runs-on: native
    env:
      NODE_PATH: ${join(REPO_ROOT, "node_modules")}
      STEP: ${STEP}
${outs ? `    outputs:\n${outs}` : ""}    steps:
${steps}`;
}

function prEvent(number: number, headRepo: string, action = "opened"): Record<string, unknown> {
  const repo = (full: string) => ({ full_name: full, name: full.split("/")[1], owner: { login: full.split("/")[0] } });
  return {
    action,
    number,
    pull_request: {
      number,
      merged: false,
      head: { ref: "feature", sha: "1".repeat(40), repo: repo(headRepo) },
      base: { ref: "main", sha: "2".repeat(40), repo: repo(REPO_A) },
    },
    repository: repo(REPO_A),
  };
}

function explain(job: JobView): string {
  return `job ${job.jobId} (${job.repo}) result=${job.result}\noutputs=${JSON.stringify(job.outputs)}\n${job.logRows.join("\n")}`;
}

describe("actions cache through the daemon and the emulator", { timeout: 300_000 }, () => {
  let env: TestEnv;
  let cli: CliProcess;

  before(async () => {
    env = await setupEnv();
    cli = await startCli(env, ["daemon"], { cache: true, capacity: 2 });
  });

  after(async () => {
    if (cli && cli.child.exitCode === null) {
      cli.child.kill("SIGTERM");
      const t = setTimeout(() => cli.child.kill("SIGKILL"), 10_000);
      await cli.exited;
      clearTimeout(t);
    }
    await env?.close();
  });

  async function run(opts: { workflow: string; repo?: string; event?: string; eventPayload?: Record<string, unknown> }): Promise<JobView> {
    const { jobId } = env.emu.enqueue({ repo: REPO_A, ...opts });
    let job: JobView;
    try {
      job = await env.emu.waitForJobDone(jobId, JOB_TIMEOUT);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${explain(env.emu.job(jobId)!)}\ndaemon output:\n${cli.output()}`);
    }
    assert.equal(job.result, "success", explain(job));
    for (const s of job.steps) assert.equal(s.result, "success", `step ${s.index} ${s.name}\n${explain(job)}`);
    return job;
  }

  const once = <T>(f: () => Promise<T>) => {
    let p: Promise<T> | undefined;
    return () => (p ??= f());
  };

  // Phase 1: repo A and repo B each save a tree under the same key.
  const phase1 = once(async () => {
    // Only repository A saves the p-<R>-v1 entry (B later looks for it).
    const save = (marker: string, prefix: boolean) =>
      workflow(
        `      - run: |
          test ! -e tree
          ${MAKE_TREE(marker)}
          ${COPY_ACTION}
          printf '%s' "$ACTIONS_RUNTIME_TOKEN" > ${join(env.dir, `token-${marker}`)}
      - id: sum
        run: echo "sum=$${TREE_SUM}" >> "$GITHUB_OUTPUT"
      - id: save
        uses: ./cache-action
        with:
          mode: save
          path: tree
          key: ${KEY}
${prefix ? `      - id: prefix
        run: |
          mkdir p && echo "prefix ${marker}" > p/v.txt
          $STEP save p-${R}-v1 p
` : ""}      - id: probe
        run: $STEP probe ${expr("steps.save.outputs.cache-id")}
`,
        {
          sum: "steps.sum.outputs.sum",
          "cache-id": "steps.save.outputs.cache-id",
          "prefix-id": "steps.prefix.outputs.cache-id",
          url: "steps.probe.outputs.url",
          mode: "steps.probe.outputs.mode",
          "lookup-token": "steps.probe.outputs.lookup-token",
          "lookup-wrong": "steps.probe.outputs.lookup-wrong",
          "lookup-none": "steps.probe.outputs.lookup-none",
          artifact: "steps.probe.outputs.artifact",
        },
      );
    const [a, b] = await Promise.all([
      run({ workflow: save(`A-${R}`, true) }),
      run({ workflow: save(`B-${R}`, false), repo: REPO_B }),
    ]);
    return { a, b };
  });

  /** Restores `tree` with `key` through the JS action, then reports what arrived. */
  const restoreTree = (key: string, id = "tree") => `      - id: ${id}
        uses: ./cache-action
        with:
          mode: restore
          path: tree
          key: ${key}
      - id: ${id}-check
        run: |
          echo "sum=$${TREE_SUM}" >> "$GITHUB_OUTPUT"
          echo "content=$(cat tree/a.txt)" >> "$GITHUB_OUTPUT"
          echo "link=$(readlink tree/link)" >> "$GITHUB_OUTPUT"
`;
  const treeOutputs = (id = "tree") => ({
    [`${id}-hit`]: `steps.${id}.outputs.cache-hit`,
    [`${id}-sum`]: `steps.${id}-check.outputs.sum`,
    [`${id}-content`]: `steps.${id}-check.outputs.content`,
    [`${id}-link`]: `steps.${id}-check.outputs.link`,
  });
  /** Restores with the run-step client; the step's `cache-hit` output is the matched key or "". */
  const restoreStep = (id: string, key: string, restoreKeys: string, path: string) =>
    `      - id: ${id}
        run: $STEP restore ${key} ${restoreKeys} ${path}
`;

  // Phase 2: a second job of each repository restores.
  const phase2 = once(async () => {
    await phase1();
    const a = run({
      workflow: workflow(
        `      - run: |
          test ! -e tree
          ${COPY_ACTION}
${restoreTree(KEY)}${restoreStep("prefix", `p-${R}-v2`, `nothing-${R},p-${R}-`, "p")}      - id: prefix-content
        run: echo "content=$(cat p/v.txt)" >> "$GITHUB_OUTPUT"
${restoreStep("miss", `none-${R}`, "-", "absent")}      - id: miss-action
        uses: ./cache-action
        with:
          mode: restore
          path: tree
          key: absent-${R}
          restore-keys: absent-
`,
        {
          ...treeOutputs(),
          "prefix-hit": "steps.prefix.outputs.cache-hit",
          "prefix-content": "steps.prefix-content.outputs.content",
          "miss-hit": "steps.miss.outputs.cache-hit",
          "miss-action-hit": "steps.miss-action.outputs.cache-hit",
        },
      ),
    });
    const b = run({
      repo: REPO_B,
      workflow: workflow(
        `      - run: ${COPY_ACTION}
${restoreTree(KEY)}${restoreStep("other", `p-${R}-v1`, `p-${R}-`, "p")}`,
        { ...treeOutputs(), "other-hit": "steps.other.outputs.cache-hit" },
      ),
    });
    return { a: await a, b: await b };
  });

  // Phase 3: a pull request inside repo A, and one from a fork.
  const phase3 = once(async () => {
    await phase1();
    const pr = run({
      event: "pull_request",
      eventPayload: prEvent(7, REPO_A),
      workflow: workflow(
        `      - run: ${COPY_ACTION}
${restoreTree(KEY)}      - id: poison
        run: |
          echo "marker poison-${R}" > tree/a.txt
          $STEP save ${KEY} tree
      - id: own
        run: |
          mkdir q && echo "pr ${R}" > q/v.txt
          $STEP save pr-${R} q
      - id: probe
        run: $STEP probe
`,
        {
          ...treeOutputs(),
          "poison-id": "steps.poison.outputs.cache-id",
          "own-id": "steps.own.outputs.cache-id",
          mode: "steps.probe.outputs.mode",
        },
        "pull_request",
      ),
    });
    const fork = run({
      event: "pull_request",
      eventPayload: prEvent(8, "mallory/webapp"),
      workflow: workflow(
        `      - run: ${COPY_ACTION}
      - id: probe
        run: $STEP probe
${restoreTree(KEY)}      - id: save
        run: |
          mkdir f && echo "fork ${R}" > f/v.txt
          $STEP save fork-${R} f
      - id: forced
        run: ACTIONS_CACHE_MODE=write $STEP save fork-${R} f
      - id: raw
        run: $STEP reserve raw-${R}
`,
        {
          ...treeOutputs(),
          mode: "steps.probe.outputs.mode",
          "save-id": "steps.save.outputs.cache-id",
          "forced-id": "steps.forced.outputs.cache-id",
          "reserve-status": "steps.raw.outputs.reserve-status",
          "reserve-error": "steps.raw.outputs.reserve-error",
        },
        "pull_request",
      ),
    });
    return { pr: await pr, fork: await fork };
  });

  // Phase 4: after the pull requests, a push run of repo A and a second run of PR 7.
  const phase4 = once(async () => {
    await phase3();
    const steps = `      - run: ${COPY_ACTION}
${restoreTree(KEY)}${restoreStep("pr", `pr-${R}`, "-", "q")}${restoreStep("prefix", `pr-${R}-x`, "pr-", "q")}${restoreStep("fork", `fork-${R}`, "-", "f")}`;
    const outputs = {
      ...treeOutputs(),
      "pr-hit": "steps.pr.outputs.cache-hit",
      "prefix-hit": "steps.prefix.outputs.cache-hit",
      "fork-hit": "steps.fork.outputs.cache-hit",
    };
    const push = run({ workflow: workflow(steps, outputs) });
    const pr = run({
      event: "pull_request",
      eventPayload: prEvent(7, REPO_A, "synchronize"),
      workflow: workflow(steps, outputs, "pull_request"),
    });
    return { push: await push, pr: await pr };
  });

  // Phase 5: two jobs of repo A save the same new key at the same time, then a third restores it.
  const phase5 = once(async () => {
    const save = (marker: string) =>
      run({
        workflow: workflow(
          `      - run: |
          ${MAKE_TREE(marker)}
      - id: sum
        run: echo "sum=$${TREE_SUM}" >> "$GITHUB_OUTPUT"
      - id: save
        run: $STEP save race-${R} tree
`,
          { sum: "steps.sum.outputs.sum", "cache-id": "steps.save.outputs.cache-id" },
        ),
      });
    const saves = await Promise.all([save(`race1-${R}`), save(`race2-${R}`)]);
    const restore = await run({
      workflow: workflow(
        `      - run: ${COPY_ACTION}
${restoreTree(`race-${R}`)}`,
        treeOutputs(),
      ),
    });
    return { saves, restore };
  });

  // Phase 6: a job is cancelled in the middle of an upload.
  const phase6 = once(async () => {
    const marker = `partial-${R}`;
    const { jobId } = env.emu.enqueue({
      repo: REPO_A,
      workflow: workflow(`      - id: probe
        run: $STEP probe
      - run: |
          printf '%s' "$ACTIONS_RUNTIME_TOKEN" > ${join(env.dir, `token-${marker}`)}
          echo "url=$ACTIONS_CACHE_URL"
          $STEP partial ${marker}
`),
    });
    const rows = () => env.emu.job(jobId)?.logRows ?? [];
    const ready = await env.emu.waitFor(
      () => rows().find((r) => r.startsWith("partial-upload-ready id=")),
      JOB_TIMEOUT,
      () => `${explain(env.emu.job(jobId)!)}\ndaemon output:\n${cli.output()}`,
    );
    env.emu.cancel(jobId);
    await env.emu.waitForJobDone(jobId, JOB_TIMEOUT);
    // The emulator marks the job done at once; the runner has stopped it (and
    // released its cache URL) when its last log rows have arrived.
    await env.emu.waitFor(() => (env.emu.job(jobId)?.logArchived ? true : undefined), JOB_TIMEOUT);
    const cancelled = env.emu.job(jobId)!;
    const id = ready.slice("partial-upload-ready id=".length);
    const url = rows().find((r) => r.startsWith("url="))?.slice(4) ?? "";
    const token = await readFile(join(env.dir, `token-${marker}`), "utf8");
    const afterCancel = await fetch(`${url}_apis/artifactcache/caches/${id}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream", "content-range": "bytes 16-31/*" },
      body: Buffer.alloc(16, 2),
    });
    const next = await run({
      workflow: workflow(`      - id: lookup
        run: $STEP lookup ${marker} ${id}
`, { lookup: "steps.lookup.outputs.lookup", artifact: "steps.lookup.outputs.artifact" }),
    });
    return { cancelled, id, url, afterCancel: { status: afterCancel.status, body: await afterCancel.text() }, next };
  });

  it("a job saves a directory tree and a later job of the same repository restores it by exact key", async () => {
    const { a } = await phase1();
    assert.match(a.outputs["cache-id"] ?? "", /^[1-9]\d*$/, explain(a));
    assert.match(a.outputs["prefix-id"] ?? "", /^[1-9]\d*$/, explain(a));
    assert.equal(a.outputs.mode, "write", explain(a));
    const { a: a2 } = await phase2();
    assert.equal(a2.outputs["tree-hit"], KEY, explain(a2));
    assert.match(a.outputs.sum ?? "", /^[0-9a-f]{64}$/, explain(a));
    assert.equal(a2.outputs["tree-sum"], a.outputs.sum, explain(a2));
    assert.equal(a2.outputs["tree-content"], `marker A-${R}`, explain(a2));
    assert.equal(a2.outputs["tree-link"], "a.txt", explain(a2));
  });

  it("restore-keys match by prefix when the primary key misses", async () => {
    const { a: a2 } = await phase2();
    assert.equal(a2.outputs["prefix-hit"], `p-${R}-v1`, explain(a2));
    assert.equal(a2.outputs["prefix-content"], `prefix A-${R}`, explain(a2));
  });

  it("a miss: restoreCache returns undefined and the action's cache-hit is empty", async () => {
    const { a: a2 } = await phase2();
    assert.equal(a2.outputs["miss-hit"], "", explain(a2));
    assert.equal(a2.outputs["miss-action-hit"], "", explain(a2));
    assert.ok(a2.logRows.some((r) => r === "cache-hit="), explain(a2));
  });

  it("repository B sees its own entry under the same key and none of repository A's", async () => {
    const { a, b } = await phase1();
    assert.match(b.outputs["cache-id"] ?? "", /^[1-9]\d*$/, explain(b));
    assert.notEqual(b.outputs["cache-id"], a.outputs["cache-id"]);
    assert.equal(b.outputs["prefix-id"] ?? "", "", explain(b));
    const { b: b2 } = await phase2();
    assert.equal(b2.outputs["tree-hit"], KEY, explain(b2));
    assert.equal(b2.outputs["tree-content"], `marker B-${R}`, explain(b2));
    assert.equal(b2.outputs["tree-sum"], b.outputs.sum, explain(b2));
    assert.notEqual(b2.outputs["tree-sum"], a.outputs.sum);
    // Repository A saved p-<R>-v1 too; B gets neither the exact key nor the prefix.
    const { a: a2 } = await phase2();
    assert.equal(a2.outputs["prefix-hit"], `p-${R}-v1`);
    assert.equal(b2.outputs["other-hit"], "", explain(b2));
  });

  it("a pull request reads the base branch's entry and writes only under its own isolation key", async () => {
    const { pr } = await phase3();
    assert.equal(pr.outputs.mode, "write", explain(pr));
    assert.equal(pr.outputs["tree-hit"], KEY, explain(pr));
    assert.equal(pr.outputs["tree-content"], `marker A-${R}`, explain(pr));
    assert.match(pr.outputs["poison-id"] ?? "", /^[1-9]\d*$/, explain(pr));
    assert.match(pr.outputs["own-id"] ?? "", /^[1-9]\d*$/, explain(pr));

    const { push, pr: pr2 } = await phase4();
    // The push run sees neither the PR's own key nor its overwrite of the base key.
    assert.equal(push.outputs["pr-hit"], "", explain(push));
    assert.equal(push.outputs["prefix-hit"], "", explain(push));
    assert.equal(push.outputs["tree-hit"], KEY, explain(push));
    assert.equal(push.outputs["tree-content"], `marker A-${R}`, explain(push));
    // A later run of the same pull request does see what it wrote.
    assert.equal(pr2.outputs["pr-hit"], `pr-${R}`, explain(pr2));
    assert.equal(pr2.outputs["prefix-hit"], `pr-${R}`, explain(pr2));
    assert.equal(pr2.outputs["tree-hit"], KEY, explain(pr2));
    assert.equal(pr2.outputs["tree-content"], `marker poison-${R}`, explain(pr2));
  });

  it("a fork pull request gets ACTIONS_CACHE_MODE=read: restores work, saves are skipped or refused", async () => {
    const { fork } = await phase3();
    const { a } = await phase1();
    assert.equal(fork.outputs.mode, "read", explain(fork));
    assert.equal(fork.outputs["tree-hit"], KEY, explain(fork));
    assert.equal(fork.outputs["tree-sum"], a.outputs.sum, explain(fork));
    // The client honours the mode and does not even try...
    assert.equal(fork.outputs["save-id"], "-1", explain(fork));
    assert.ok(fork.logRows.some((r) => r.includes("Cache save skipped") && r.includes("'read'")), explain(fork));
    // ...and a client that ignores it is refused by the proxy.
    assert.equal(fork.outputs["forced-id"], "-1", explain(fork));
    assert.ok(fork.logRows.some((r) => r.includes("cache write denied")), explain(fork));
    assert.equal(fork.outputs["reserve-status"], "403", explain(fork));
    assert.match(fork.outputs["reserve-error"] ?? "", /^cache write denied:/, explain(fork));
    // Nothing of the fork's reached the cache.
    const { push } = await phase4();
    assert.equal(push.outputs["fork-hit"], "", explain(push));
  });

  it("the cache API needs the job's runtime token, and a job's URL stops working when the job ends", async () => {
    const { a } = await phase1();
    assert.equal(a.outputs["lookup-token"], "204", explain(a));
    assert.equal(a.outputs["lookup-wrong"], "401", explain(a));
    assert.equal(a.outputs["lookup-none"], "401", explain(a));
    assert.equal(a.outputs.artifact, "200", explain(a));

    const url = a.outputs.url ?? "";
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/[^/]+\/$/, explain(a));
    const token = await readFile(join(env.dir, `token-A-${R}`), "utf8");
    assert.ok(token.length > 20);
    const lookup = await fetch(`${url}_apis/artifactcache/cache?keys=${KEY}&version=probe-version`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(lookup.status, 403, await lookup.text());
    const download = await fetch(`${url}_apis/artifactcache/artifacts/${a.outputs["cache-id"]}`);
    assert.equal(download.status, 403, await download.text());
    // The proxy itself is still up: a current job's URL would work.
    assert.equal(cli.child.exitCode, null);
  });

  it("two jobs saving the same key at once: both jobs pass and a later restore gets one whole tree", async () => {
    const { saves, restore } = await phase5();
    const saved = saves.filter((j) => /^[1-9]\d*$/.test(j.outputs["cache-id"] ?? ""));
    assert.ok(saved.length >= 1, saves.map(explain).join("\n"));
    for (const j of saves) {
      if (!saved.includes(j)) {
        assert.equal(j.outputs["cache-id"], "-1", explain(j));
        assert.ok(j.logRows.some((r) => r.includes("another job may be creating this cache")), explain(j));
      }
    }
    assert.equal(restore.outputs["tree-hit"], `race-${R}`, explain(restore));
    const match = saved.find((j) => j.outputs.sum === restore.outputs["tree-sum"]);
    assert.ok(match, `restored ${restore.outputs["tree-sum"]}, saved ${saved.map((j) => j.outputs.sum).join(", ")}`);
    const marker = saves.indexOf(match) === 0 ? `race1-${R}` : `race2-${R}`;
    assert.equal(restore.outputs["tree-content"], `marker ${marker}`, explain(restore));
  });

  it("a job cancelled mid-upload: its URL is dead once the runner has stopped it, and the half entry is never served", async () => {
    const { cancelled, id, url, afterCancel, next } = await phase6();
    assert.equal(cancelled.result, "cancelled", explain(cancelled));
    assert.match(id, /^[1-9]\d*$/);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/[^/]+\/$/, explain(cancelled));
    // The rest of the upload, sent with the job's own token after the cancel, is refused.
    assert.equal(afterCancel.status, 403, afterCancel.body);
    assert.equal(next.outputs.lookup, "204", explain(next));
    assert.equal(next.outputs.artifact, "404", explain(next));
  });

  it("cache.dir holds exactly the committed entries: private, nothing from the fork, only the cancelled upload still open", async () => {
    const { saves } = await phase5();
    await phase4();
    await phase6();
    const dir = join(env.dir, "cache");
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    const blobs = (await readdir(join(dir, "blobs"), { recursive: true, withFileTypes: true })).filter((d) => d.isFile());
    // A: tree + prefix, B: tree, PR 7: poison + own, plus the race saves that got an id.
    const raced = saves.filter((j) => /^[1-9]\d*$/.test(j.outputs["cache-id"] ?? "")).length;
    assert.equal(blobs.length, 5 + raced, blobs.map((d) => d.name).join(" "));
    // Only the cancelled job's upload is still open (it expires later; never served).
    const { id } = await phase6();
    assert.deepEqual(await readdir(join(dir, "uploads")), [`${id}.part`]);
  });
});
