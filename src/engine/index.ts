// Front door of the job engine: one job from request to typed events.
export { runJob } from "./run-job.js";
export type { JobRequest, RunJobOptions, JobOutcome, NeedResult } from "./job-request.js";
export type {
  Conclusion, LogStage, LogEvent, StepStartedEvent, StepFinishedEvent, AnnotationEvent, SummaryEvent, JobFinishedEvent, JobEvent, Emit,
} from "./events.js";
export { Masker } from "./masker.js";
