import type { Command } from "commander";

export function registerCommand(program: Command): void {
  program
    .command("register")
    .description("(not implemented yet)")
    .action(() => {
      throw new Error("register: not implemented yet");
    });
}
