import { Command } from "commander";
import { VERSION } from "../version.js";
import { registerCommand } from "./commands/register.js";
import { createRunnerFileCommand } from "./commands/create-runner-file.js";
import { daemonCommand } from "./commands/daemon.js";
import { oneJobCommand } from "./commands/one-job.js";
import { execCommand } from "./commands/exec.js";
import { validateCommand } from "./commands/validate.js";
import { generateConfigCommand } from "./commands/generate-config.js";
import { cacheServerCommand } from "./commands/cache-server.js";
import { statusCommand } from "./commands/status.js";

/** Builds the CLI. Each verb lives in its own file under commands/ and adds itself to `program`. */
export function buildCli(): Command {
  const program = new Command("native-runner")
    .description("A Forgejo Actions runner that runs jobs on the host, isolated")
    .version(VERSION, "-v, --version")
    .option("-c, --config <file>", "config file path")
    .showHelpAfterError();
  for (const add of [
    registerCommand, createRunnerFileCommand, daemonCommand, oneJobCommand, execCommand,
    validateCommand, generateConfigCommand, cacheServerCommand, statusCommand,
  ]) {
    add(program);
  }
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildCli();
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
