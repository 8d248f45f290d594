import type { Command } from "commander";

export function statusCommand(program: Command): void {
  program
    .command("status")
    .description("(not implemented yet)")
    .action(() => {
      throw new Error("status: not implemented yet");
    });
}
