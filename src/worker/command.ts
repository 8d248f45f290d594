// How the daemon starts a job worker: the worker bundle next to the running
// CLI bundle (dist/job-worker.js), or, when running from source, the worker's
// TypeScript entry through tsx.

import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { WorkerCommand } from "./run-in-worker.js";

export function defaultWorkerCommand(moduleUrl: string = import.meta.url): WorkerCommand {
  const here = dirname(fileURLToPath(moduleUrl));
  const ext = moduleUrl.endsWith(".mjs") ? ".mjs" : ".js";
  const bundled = join(here, `job-worker${ext}`);
  if (!moduleUrl.endsWith(".ts") && existsSync(bundled)) return { argv: [process.execPath, bundled] };
  const source = resolve(here, "entry.ts");
  if (existsSync(source)) return { argv: [process.execPath, "--import", import.meta.resolve("tsx"), source] };
  throw new Error(`job worker not found (looked for ${bundled} and ${source})`);
}
