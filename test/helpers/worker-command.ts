// The job worker as tests start it: bundled from src/ (cached per state of the sources).
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { defaultWorkerCommand, type WorkerCommand } from "../../src/worker/index.js";

export function testWorkerCommand(): Promise<WorkerCommand> {
  return defaultWorkerCommand(pathToFileURL(resolve(import.meta.dirname, "../../src/worker/command.ts")).href);
}
