import type { Command } from "commander";

export function daemonCommand(program: Command): void {
  program
    .command("daemon")
    .description("(not implemented yet)")
    .action(() => {
      throw new Error("daemon: not implemented yet");
    });
}
