import type { Command } from "commander";

export function oneJobCommand(program: Command): void {
  program
    .command("one-job")
    .description("(not implemented yet)")
    .action(() => {
      throw new Error("one-job: not implemented yet");
    });
}
