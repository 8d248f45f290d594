import type { Command } from "commander";

export function validateCommand(program: Command): void {
  program
    .command("validate")
    .description("(not implemented yet)")
    .action(() => {
      throw new Error("validate: not implemented yet");
    });
}
