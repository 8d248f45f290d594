// The seam between the job engine and whatever consumes a job: the daemon's
// reporter (UpdateLog/UpdateTask), exec's console printer, and tests.
// The engine never knows about the protocol; consumers never parse log text
// for results.

/** GitHub's step/job result vocabulary. */
export type Conclusion = "success" | "failure" | "cancelled" | "skipped";

/** Where a log row belongs. "setup" rows come before the first main step,
 *  "complete" rows after the last one (Forgejo shows them as "Set up job" /
 *  "Complete job"); "step" rows belong to the running main step. */
export type LogStage = "setup" | "step" | "complete";

export interface LogEvent {
  type: "log";
  time: Date;
  /** One line, already masked, without trailing CR/LF. */
  line: string;
  stage: LogStage;
  /** Payload step index when stage === "step". */
  stepIndex?: number;
}

export interface StepStartedEvent {
  type: "step-started";
  time: Date;
  /** 0-based index into the job's `steps` (the payload's step list). */
  index: number;
  /** The step's `id:` or the generated id (`__run`, `__run_2`, ...). */
  id: string;
  /** Display name (name:, else "Run <first line>" / "Run <uses>"). */
  name: string;
}

export interface StepFinishedEvent {
  type: "step-finished";
  time: Date;
  index: number;
  id: string;
  /** Result before continue-on-error. */
  outcome: Conclusion;
  /** Result after continue-on-error. */
  conclusion: Conclusion;
  outputs: Record<string, string>;
}

export interface AnnotationEvent {
  type: "annotation";
  time: Date;
  level: "notice" | "warning" | "error";
  message: string;
  file?: string;
  line?: number;
  endLine?: number;
  col?: number;
  endColumn?: number;
  title?: string;
  stepIndex?: number;
}

export interface SummaryEvent {
  type: "summary";
  time: Date;
  /** Concatenated GITHUB_STEP_SUMMARY markdown of the job. */
  markdown: string;
}

export interface JobFinishedEvent {
  type: "job-finished";
  time: Date;
  result: Conclusion;
  /** Evaluated job outputs (already filtered of masked values). */
  outputs: Record<string, string>;
}

export type JobEvent =
  | LogEvent
  | StepStartedEvent
  | StepFinishedEvent
  | AnnotationEvent
  | SummaryEvent
  | JobFinishedEvent;

export type Emit = (event: JobEvent) => void;
