import type { Command } from "commander";

export function cacheServerCommand(program: Command): void {
  program
    .command("cache-server")
    .description("(not implemented yet)")
    .action(() => {
      throw new Error("cache-server: not implemented yet");
    });
}
