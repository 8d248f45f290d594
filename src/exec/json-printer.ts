import type { JobEvent } from "../engine/events.js";
import type { ExecObserver, JobFinish, JobRef } from "./orchestrator.js";

export interface RunRow {
  job: string;
  name: string;
  result: string;
  durationMs: number;
}

/** `exec --json`: one JSON object per line (schema in docs/exec.md). */
export class JsonPrinter implements ExecObserver {
  private readonly stepNames = new Map<string, string>();
  readonly rows: RunRow[] = [];

  constructor(private readonly write: (s: string) => void) {}

  private out(obj: Record<string, unknown>): void {
    this.write(JSON.stringify(obj) + "\n");
  }

  private jobFields(job: JobRef): Record<string, unknown> {
    const f: Record<string, unknown> = { job: job.key, id: job.jobId, name: job.name, matrix: job.matrix ?? null, workflow: job.workflow };
    if (job.parent) f.parent = job.parent;
    if (job.isCall) f.call = true;
    return f;
  }

  jobStarted(job: JobRef): void {
    this.out({ type: "job-start", time: new Date().toISOString(), ...this.jobFields(job) });
  }

  jobEvent(job: JobRef, ev: JobEvent): void {
    const time = ev.time.toISOString();
    switch (ev.type) {
      case "log":
        this.out({ type: "log", time, job: job.key, step: ev.stepIndex ?? null, stage: ev.stage, line: ev.line });
        break;
      case "step-started":
        this.stepNames.set(`${job.key}\u0000${ev.index}`, ev.name);
        this.out({ type: "step-start", time, job: job.key, index: ev.index, id: ev.id, name: ev.name });
        break;
      case "step-finished":
        this.out({
          type: "step-finish",
          time,
          job: job.key,
          index: ev.index,
          id: ev.id,
          name: this.stepNames.get(`${job.key}\u0000${ev.index}`) ?? ev.id,
          outcome: ev.outcome,
          conclusion: ev.conclusion,
          outputs: ev.outputs,
        });
        break;
      case "annotation": {
        const { type: _t, time: _time, ...rest } = ev;
        this.out({ type: "annotation", time, job: job.key, ...rest });
        break;
      }
      case "summary":
        this.out({ type: "summary", time, job: job.key, markdown: ev.markdown });
        break;
      case "job-finished":
        break;
    }
  }

  jobFinished(job: JobRef, f: JobFinish): void {
    this.rows.push({ job: job.key, name: job.name, result: f.result, durationMs: f.durationMs });
    this.out({
      type: "job-finish",
      time: new Date().toISOString(),
      ...this.jobFields(job),
      result: f.result,
      outcome: f.outcome,
      outputs: f.outputs,
      durationMs: f.durationMs,
      ...(f.reason !== undefined ? { reason: f.reason } : {}),
    });
  }

  runFinished(result: string): void {
    this.out({ type: "run-finish", time: new Date().toISOString(), result, jobs: this.rows });
  }
}
