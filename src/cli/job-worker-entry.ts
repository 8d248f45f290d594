// Entry of dist/job-worker.js, the process the daemon starts per job: the engine bundle's worker.
import { loadEngineBundle } from "./bundle-loader.js";

const engine = loadEngineBundle(import.meta.url);
if (!engine) throw new Error(`no engine.js next to ${import.meta.url}`);
void engine.runWorker();
