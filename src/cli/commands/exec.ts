import type { Command } from "commander";

export function execCommand(program: Command): void {
  program
    .command("exec")
    .description("(not implemented yet)")
    .action(() => {
      throw new Error("exec: not implemented yet");
    });
}
