import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PlainBackend } from "../../src/host/plain-backend.js";
import type { HostBackend } from "../../src/host/sandbox.js";
import type { JobEvent, LogEvent, StepFinishedEvent } from "../../src/engine/events.js";
import type { JobOutcome, JobRequest } from "../../src/engine/job-request.js";
import { runJob } from "../../src/engine/run-job.js";

/**
 * PlainBackend by default; ENGINE_TEST_ISOLATION=uid|uid+bwrap runs the same
 * tests through an isolated backend (root only; job dirs under /var/tmp).
 */
async function testBackend(workdir: string): Promise<{ host: HostBackend; cleanup(): Promise<void> }> {
  const mode = process.env["ENGINE_TEST_ISOLATION"];
  if (!mode) return { host: new PlainBackend(join(workdir, "jobs")), cleanup: async () => {} };
  const { createHostBackend } = await import("../../src/host/index.js");
  const parent = await mkdtemp("/var/tmp/engine-iso-");
  await chmod(parent, 0o755);
  const host = await createHostBackend({
    host: {
      workdir_parent: parent,
      isolation: mode as "uid" | "bwrap",
      cgroups: "none",
      uid_range: { start: 3_600_000, count: 50 },
      hidden_paths: [],
      resources: { memory_max: 0, cpu_quota: 0, pids_max: 0 },
    },
    stateDir: join(parent, "state"),
    log: () => {},
  });
  return { host, cleanup: () => rm(parent, { recursive: true, force: true }) };
}

export interface RunResult {
  outcome: JobOutcome;
  events: JobEvent[];
  /** Every log line, in order. */
  lines: string[];
  /** Log lines of one step (by payload index). */
  stepLines(index: number): string[];
  step(index: number): StepFinishedEvent;
  workdir: string;
}

export interface RunOptions extends Partial<Omit<JobRequest, "workflowYaml">> {
  signal?: AbortSignal;
  /** Called with each event as it arrives. */
  onEvent?: (e: JobEvent) => void;
  keepWorkdir?: boolean;
}

export async function runYaml(yaml: string, o: RunOptions = {}): Promise<RunResult> {
  const workdir = await mkdtemp(join(tmpdir(), "engine-test-"));
  await chmod(workdir, 0o755); // the action cache inside must be readable by a job uid
  const events: JobEvent[] = [];
  const req: JobRequest = {
    jobKey: o.jobKey ?? "test",
    workflowYaml: yaml,
    workflowFile: "test.yml",
    context: o.context ?? {
      repository: "alice/webapp",
      repository_owner: "alice",
      sha: "1f2e3d4c5b6a79880796a5b4c3d2e1f001122334",
      ref: "refs/heads/main",
      ref_name: "main",
      ref_type: "branch",
      event_name: "push",
      event: { ref: "refs/heads/main", head_commit: { message: "hello" } },
      actor: "alice",
      run_id: "17",
      run_number: "5",
      run_attempt: "1",
      workflow: "ci.yml",
      server_url: "http://127.0.0.1:1/",
      api_url: "http://127.0.0.1:1/api/v1",
      token: "e4c713ef7e847ee264372ec2872d8072ce05fee0",
    },
    secrets: o.secrets ?? {},
    vars: o.vars ?? {},
    needs: o.needs ?? {},
    ...(o.inputs ? { inputs: o.inputs } : {}),
    ...(o.runnerEnv ? { runnerEnv: o.runnerEnv } : {}),
    ...(o.extraEnv ? { extraEnv: o.extraEnv } : {}),
    ...(o.extraMasks ? { extraMasks: o.extraMasks } : {}),
    ...(o.workspaceDir ? { workspaceDir: o.workspaceDir } : {}),
    ...(o.nodePath ? { nodePath: o.nodePath } : {}),
    ...(o.defaultActionsUrl ? { defaultActionsUrl: o.defaultActionsUrl } : {}),
    ...(o.strategy ? { strategy: o.strategy } : {}),
    actionCacheDir: o.actionCacheDir ?? join(workdir, "action-cache"),
  };
  const { host, cleanup } = await testBackend(workdir);
  try {
    const outcome = await runJob(req, {
      emit: (e) => {
        events.push(e);
        o.onEvent?.(e);
      },
      signal: o.signal ?? new AbortController().signal,
      host,
    });
    const logs = events.filter((e): e is LogEvent => e.type === "log");
    return {
      outcome,
      events,
      lines: logs.map((l) => l.line),
      stepLines: (i) => logs.filter((l) => l.stage === "step" && l.stepIndex === i).map((l) => l.line),
      step: (i) => {
        const f = events.find((e): e is StepFinishedEvent => e.type === "step-finished" && e.index === i);
        if (!f) throw new Error(`no step-finished for step ${i}`);
        return f;
      },
      workdir,
    };
  } finally {
    await cleanup();
    if (!o.keepWorkdir) await rm(workdir, { recursive: true, force: true });
  }
}

/** A one-job workflow around the given steps YAML (indented for `steps:`). */
export function job(steps: string, extra = ""): string {
  return `on: push\njobs:\n  test:\n    runs-on: native\n${extra}    steps:\n${steps}`;
}
