// The daemon's door to job workers. Only the daemon side lives here: the
// worker itself (worker-main.ts, which loads the engine) runs in its own process.
export { runJobInWorker, type RunInWorkerOptions, type WorkerCommand } from "./run-in-worker.js";
export { defaultWorkerCommand } from "./command.js";
export { WarmWorkers, WARM_JOB_KEY, type WarmWorkersOptions } from "./warm-workers.js";
