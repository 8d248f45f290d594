// The conformance cases that the emulator run of test/conformance-daemon skips
// for server-side reasons (reusable-workflow calls, matrices computed from
// needs), through the real Gitea and native-runner. Gitea 1.22 does not
// expand reusable-workflow calls: it hands the calling job to a runner, so
// the runner runs the called workflow. Judged by what the server stores: job
// states (web JSON), job outputs (its SQLite database, read-only), job logs.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import Database from "better-sqlite3";
import { parseDocument } from "yaml";
import { caseNames, loadCase, type CasePlan, type LineMatcher } from "../conformance-daemon/cases.js";
import { giteaUnavailable, sleep, type Gitea } from "./gitea.js";
import { daemonOutput, startTier, type Tier } from "./tier.js";

const skip = giteaUnavailable();
if (skip) console.log(`# real-server tier skipped: ${skip}`);

/** Why the emulator run skips a case, for the reasons this server can take over. */
const SERVER_SIDE = /calls a reusable workflow|expanded by the server|is an expression \(expanded by the server/;

/**
 * Differences that come from this server, not from the runner: the outputs of
 * a job that did not succeed are not stored (runners send them on success only),
 * so a dependent sees none.
 */
const ADJUST: Record<string, (p: CasePlan) => void> = {
  "reusable-failure": (p) => {
    p.exp.jobs!.handler!.outputs = { saw: "failure/" };
  },
};

/**
 * Cases this server cannot run as GitHub would; each names the reason.
 * (A listed case that starts passing fails, so the list stays true.)
 */
const SERVER_LIMITS: Record<string, string> = {
  "matrix-from-needs":
    "Gitea 1.22 does not expand a matrix computed from needs outputs: it creates one job per matrix job (`fan`, `whole`), without the instances",
};

const plans = caseNames()
  .map(loadCase)
  .filter((p) => p.skip && SERVER_SIDE.test(p.skip) && !p.checkout);

const WF = ".gitea/workflows";

/** The case's files for Gitea: workflows in .gitea/workflows, and calling jobs with the runs-on Gitea needs to hand them to a runner. */
function giteaFiles(plan: CasePlan): Record<string, string> {
  const out: Record<string, string> = {};
  const triggered = new Set(plan.workflows.map((w) => w.file));
  for (const [rel, text0] of Object.entries(plan.files)) {
    let text = text0.split("./.forgejo/workflows/").join(`./${WF}/`);
    const file = rel.replace(/^\.forgejo\/workflows\//, "");
    if (rel.startsWith(".forgejo/workflows/") && triggered.has(file)) {
      const doc = parseDocument(text);
      const jobs = doc.get("jobs") as { items?: Array<{ key: { value: string }; value: { has(k: string): boolean; set(k: string, v: unknown): void } }> } | undefined;
      for (const item of jobs?.items ?? []) {
        if (item.value.has("uses") && !item.value.has("runs-on")) item.value.set("runs-on", "native");
      }
      text = doc.toString();
    }
    out[rel.replace(/^\.forgejo\/workflows\//, `${WF}/`)] = text;
  }
  return out;
}

function matches(line: string, m: LineMatcher): boolean {
  if (typeof m === "string") return line.includes(m);
  if ("line" in m) return line === m.line;
  return new RegExp(m.re).test(line);
}

interface ServerJob {
  name: string;
  status: string;
  taskId: number;
  outputs: Record<string, string>;
  log: string[];
}

/** Every job of the runs created for `sha`, once all are done. */
async function serverJobs(gitea: Gitea, repo: string, sha: string, tier: Tier): Promise<ServerJob[]> {
  const statuses = await gitea.waitJobs(repo, sha, 1, 240_000, () => daemonOutput(tier));
  const runs = [...new Set(statuses.map((s) => s.run))];
  const out: ServerJob[] = [];
  for (const run of runs) {
    let state = await gitea.jobState(repo, run, 0);
    for (let i = 0; i < 200 && !state.run.done; i++) {
      await sleep(300);
      state = await gitea.jobState(repo, run, 0);
    }
    const db = new Database(join(gitea.instanceDir, "data/gitea.db"), { readonly: true, fileMustExist: true });
    try {
      for (const [i, j] of state.run.jobs.entries()) {
        const row = db.prepare("SELECT task_id FROM action_run_job WHERE id = ?").get(j.id) as { task_id: number } | undefined;
        const taskId = row?.task_id ?? 0;
        const outputs = Object.fromEntries(
          (db.prepare("SELECT output_key, output_value FROM action_task_output WHERE task_id = ?").all(taskId) as Array<{ output_key: string; output_value: string }>).map(
            (o) => [o.output_key, o.output_value],
          ),
        );
        const log = taskId ? await gitea.jobLog(repo, run, i) : [];
        out.push({ name: j.name, status: j.status, taskId, outputs, log });
      }
    } finally {
      db.close();
    }
  }
  return out;
}

describe("real Gitea: conformance cases the emulator run leaves to the server", { skip, concurrency: true, timeout: 400_000 }, () => {
  let tier: Tier | undefined;
  before(async () => {
    tier = await startTier({ capacity: 4 });
  });
  after(async () => {
    await tier?.close();
  });

  test("the selection is not empty", () => {
    assert.ok(plans.length >= 5, plans.map((p) => p.name).join(", "));
  });

  for (const plan of plans) {
    const limit = SERVER_LIMITS[plan.name];
    test(plan.name, async () => {
      ADJUST[plan.name]?.(plan);
      const { gitea } = tier!;
      const repo = `conf-${plan.name}-${Date.now().toString(36)}`;
      const sha = await gitea.createRepo(repo, giteaFiles(plan), { secrets: plan.args.secrets ?? {}, vars: plan.args.vars ?? {} });
      const jobs = await serverJobs(gitea, repo, sha, tier!);
      const problems: string[] = [];
      const all = jobs.flatMap((j) => j.log);
      const exp = plan.exp;
      const byName = (key: string) => jobs.find((j) => j.name === key);
      for (const [key, je] of Object.entries(exp.jobs ?? {})) {
        const [callKey, innerKey] = key.split(".");
        const job = byName(innerKey ? callKey! : key);
        if (!job) {
          problems.push(`no job ${key} on the server (jobs: ${jobs.map((j) => j.name).join(", ")})`);
          continue;
        }
        if (innerKey) {
          // A called job runs inside the calling task: its result and rows are in that task's log.
          if (je.result && !job.log.some((l) => l.endsWith(`/ ${innerKey}: ${je.result}`))) problems.push(`${key}: no row saying it ended ${je.result}`);
          for (const m of je.log?.contains ?? []) if (!job.log.some((l) => matches(l, m))) problems.push(`${key}: no row matches ${JSON.stringify(m)}`);
          continue;
        }
        if (je.result && job.status !== je.result) problems.push(`${key}: ${job.status}, expected ${je.result}`);
        if (je.outputs && job.status === "success") {
          for (const [k, v] of Object.entries(je.outputs)) if (job.outputs[k] !== v) problems.push(`${key}: output ${k} = ${JSON.stringify(job.outputs[k])}, expected ${JSON.stringify(v)}`);
        }
        for (const m of je.log?.contains ?? []) if (!job.log.some((l) => matches(l, m))) problems.push(`${key}: no row matches ${JSON.stringify(m)}`);
      }
      for (const m of exp.log?.contains ?? []) if (!all.some((l) => matches(l, m))) problems.push(`no row matches ${JSON.stringify(m)}`);
      for (const m of exp.log?.notContains ?? []) if (all.some((l) => matches(l, m))) problems.push(`a row matches ${JSON.stringify(m)}`);
      for (const s of exp.stdoutNotContains ?? []) {
        if (all.some((l) => l.includes(s)) || jobs.some((j) => Object.values(j.outputs).some((v) => v.includes(s)))) problems.push(`${JSON.stringify(s)} reached the server`);
      }
      if (exp.jobNames) {
        const names = jobs.map((j) => j.name).sort();
        if (JSON.stringify(names) !== JSON.stringify([...exp.jobNames].sort())) problems.push(`jobs ${names.join(", ")}, expected ${exp.jobNames.join(", ")}`);
      }
      const failed = jobs.some((j) => j.status === "failure" || j.status === "cancelled");
      if (exp.exitCode !== undefined && (exp.exitCode !== 0) !== failed) problems.push(`run ${failed ? "failed" : "succeeded"}, expected exit code ${exp.exitCode}`);
      const detail = `${problems.join("\n")}\n--- jobs ---\n${jobs.map((j) => `${j.name}: ${j.status} ${JSON.stringify(j.outputs)}\n  ${j.log.join("\n  ")}`).join("\n")}${daemonOutput(tier)}`;
      if (limit) {
        assert.notDeepEqual(problems, [], `${plan.name} now passes on this server: remove it from SERVER_LIMITS (${limit})`);
        return;
      }
      assert.deepEqual(problems, [], detail);
    });
  }
});
