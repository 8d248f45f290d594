import type { Command } from "commander";

export function generateConfigCommand(program: Command): void {
  program
    .command("generate-config")
    .description("(not implemented yet)")
    .action(() => {
      throw new Error("generate-config: not implemented yet");
    });
}
