// Entry of the job worker bundle (dist/job-worker.js); also reached through
// the hidden CLI verb `native-runner job-worker`. fd 1 is the channel to the
// daemon: anything else that writes to stdout goes to stderr instead.
import { createWriteStream } from "node:fs";
import { workerMain } from "./worker-main.js";

const channel = createWriteStream("", { fd: 1 });
process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
process.exitCode = await workerMain(process.stdin, channel);
