// The job worker as tests start it: the TypeScript entry through tsx.
import { resolve } from "node:path";
import type { WorkerCommand } from "../../src/worker/index.js";

export function testWorkerCommand(): WorkerCommand {
  return { argv: [process.execPath, "--import", import.meta.resolve("tsx"), resolve(import.meta.dirname, "../../src/worker/entry.ts")] };
}
