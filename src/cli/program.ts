import { Command } from "commander";
import { VERSION_LINE } from "../version.js";

/** The root command, without verbs. */
export function rootProgram(): Command {
  return new Command("native-runner")
    .description("A Forgejo Actions runner that runs jobs on the host, isolated")
    .version(VERSION_LINE, "-v, --version")
    .option("-c, --config <file>", "config file path")
    .showHelpAfterError();
}

/** Parses argv and runs the verb; a usage error or a failure sets the exit code and prints one line. */
export async function runProgram(program: Command, argv: string[]): Promise<void> {
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
