import type { Command } from "commander";

export function createRunnerFileCommand(program: Command): void {
  program
    .command("create-runner-file")
    .description("(not implemented yet)")
    .action(() => {
      throw new Error("create-runner-file: not implemented yet");
    });
}
