// Entry of the job worker bundle (dist/job-worker.js); also reached through
// the hidden CLI verb `native-runner job-worker`. stdout is the channel to the
// daemon: console output goes to stderr instead.
import { Console } from "node:console";
import { workerMain } from "./worker-main.js";

globalThis.console = new Console({ stdout: process.stderr, stderr: process.stderr });
// Everything is written and flushed; nothing the job left behind keeps the worker alive. (No top-level await:
// the engine bundle, dist/engine.js, is CommonJS.)
void workerMain(process.stdin, process.stdout).then((code) => process.exit(code));
