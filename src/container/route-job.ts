// Sends each job to its executor: host jobs to the host backend, container
// jobs to a ContainerBackend made for that job. With no container runtime,
// a container job fails with the reason; it never runs on the host.

import type { JobOutcome, JobRequest, RunJobOptions } from "../engine/job-request.js";
import type { Label } from "../config/labels.js";
import { ContainerBackend, type ContainerRuntime } from "./container-backend.js";
import { jobContainerPlan } from "./job-plan.js";
import { jobPlatform, type JobPlatform } from "./job-platform.js";

type RunJobFn = (req: JobRequest, opts: RunJobOptions) => Promise<JobOutcome>;

export interface RouteOptions {
  labels: readonly Label[];
  unmatched: "host" | "container";
  /** Image for unmatched jobs when `unmatched` is "container" (exec -i). */
  defaultImage?: string;
  /** The container runtime, made on first use; undefined: container jobs are refused. */
  runtime?: () => Promise<ContainerRuntime>;
  /** Who refuses (the log row's wording). */
  who: string;
  /**
   * Runs a container job (the daemon: in a worker, on the host backend in `opts`). Default: `run` with the
   * container backend as the job's host (`exec`: the engine in this process).
   */
  runContainer?: RunContainerJobFn;
}

export type RunContainerJobFn = (req: JobRequest, opts: RunJobOptions, container: ContainerBackend) => Promise<JobOutcome>;

export function routeJobs(run: RunJobFn, o: RouteOptions): RunJobFn {
  return async (req, opts) => {
    let platform = jobPlatform(req.workflowYaml, o.labels, { unmatched: o.unmatched });
    if (platform.kind === "container" && !platform.image && !platform.label && o.defaultImage) platform = { ...platform, image: o.defaultImage };
    if (platform.kind === "host") return run(req, opts);
    if (!o.runtime) return refuse(opts, `Error: ${o.who} does not run this job: ${platform.reason}, and this runner has no container executor`);
    return runInContainer(o.runContainer ?? ((r, op, c) => run(r, { ...op, host: c })), req, opts, platform, o.runtime);
  };
}

async function runInContainer(
  run: RunContainerJobFn,
  req: JobRequest,
  opts: RunJobOptions,
  platform: JobPlatform,
  runtime: () => Promise<ContainerRuntime>,
): Promise<JobOutcome> {
  let backend: ContainerBackend;
  try {
    const plan = jobContainerPlan(req.workflowYaml, platform, req.secrets);
    backend = new ContainerBackend(await runtime(), plan, (line) =>
      opts.emit({ type: "log", time: new Date(), line, stage: "setup" }),
    );
  } catch (err) {
    return refuse(opts, `Error: the job container cannot be set up: ${(err as Error).message}`);
  }
  // The host's node (host.node) does not exist in the container: JS actions use the container's.
  const { nodePath: _hostNode, ...containerReq } = req;
  return run(containerReq, opts, backend);
}

function refuse(opts: RunJobOptions, line: string): JobOutcome {
  opts.emit({ type: "log", time: new Date(), line, stage: "setup" });
  opts.emit({ type: "job-finished", time: new Date(), result: "failure", outputs: {} });
  return { result: "failure", outputs: {} };
}
