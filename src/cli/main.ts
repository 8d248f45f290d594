import type { Command } from "commander";
import { rootProgram, runProgram } from "./program.js";
import { verbOf } from "./verb.js";

export { verbOf };

type AddCommand = (program: Command) => void;

// Each verb's module is imported only when that verb runs: a verb's imports (engine, protocol, cache, metrics,
// SQLite) cost start-up time and memory that the other verbs do not need.
const VERBS: Record<string, () => Promise<AddCommand>> = {
  register: async () => (await import("./commands/register.js")).registerCommand,
  "create-runner-file": async () => (await import("./commands/create-runner-file.js")).createRunnerFileCommand,
  daemon: async () => (await import("./commands/daemon.js")).daemonCommand,
  "one-job": async () => (await import("./commands/one-job.js")).oneJobCommand,
  exec: async () => (await import("./commands/exec.js")).execCommand,
  validate: async () => (await import("./commands/validate.js")).validateCommand,
  "generate-config": async () => (await import("./commands/generate-config.js")).generateConfigCommand,
  "cache-server": async () => (await import("./commands/cache-server.js")).cacheServerCommand,
  status: async () => (await import("./commands/status.js")).statusCommand,
  "job-worker": async () => (await import("./commands/job-worker.js")).jobWorkerCommand,
};

/** Builds the CLI with the given verbs (all of them by default: help and unknown verbs list every verb). */
export async function buildCli(verbs: string[] = Object.keys(VERBS)): Promise<Command> {
  const program = rootProgram();
  const adders = await Promise.all(verbs.map((v) => VERBS[v]!()));
  for (const add of adders) add(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const verb = verbOf(argv);
  const program = await buildCli(verb !== undefined && Object.hasOwn(VERBS, verb) ? [verb] : undefined);
  await runProgram(program, argv);
}
