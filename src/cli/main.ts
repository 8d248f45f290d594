import { Command } from "commander";
import { VERSION_LINE } from "../version.js";

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

/** The verb in argv (the first word that is not an option or the value of `-c`), if any. */
export function verbOf(argv: string[]): string | undefined {
  const args = argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") return args[i + 1];
    if (a === "-c" || a === "--config") {
      i++;
      continue;
    }
    if (!a.startsWith("-")) return a;
  }
  return undefined;
}

/** Builds the CLI with the given verbs (all of them by default: help and unknown verbs list every verb). */
export async function buildCli(verbs: string[] = Object.keys(VERBS)): Promise<Command> {
  const program = new Command("native-runner")
    .description("A Forgejo Actions runner that runs jobs on the host, isolated")
    .version(VERSION_LINE, "-v, --version")
    .option("-c, --config <file>", "config file path")
    .showHelpAfterError();
  const adders = await Promise.all(verbs.map((v) => VERBS[v]!()));
  for (const add of adders) add(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const verb = verbOf(argv);
  const program = await buildCli(verb !== undefined && Object.hasOwn(VERBS, verb) ? [verb] : undefined);
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (e.code?.startsWith("commander.")) {
      process.exitCode = e.exitCode ?? 1;
      return;
    }
    process.stderr.write(`native-runner: ${e.message ?? String(err)}\n`);
    process.exitCode = process.exitCode || 1;
  }
}
