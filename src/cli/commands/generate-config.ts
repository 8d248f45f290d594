import type { Command } from "commander";
import { CONFIG_EXAMPLE } from "../../config/index.js";

export function generateConfigCommand(program: Command): void {
  program
    .command("generate-config")
    .description("Print an example config file with every key, its default and what it does")
    .action(() => {
      process.stdout.write(CONFIG_EXAMPLE);
    });
}
