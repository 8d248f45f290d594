import type { Command } from "commander";
import { runValidate } from "../../exec/run-validate.js";

export function validateCommand(program: Command): void {
  program
    .command("validate")
    .description("Check workflow or action files (exit 1 when invalid)")
    .option("-W, --path <path>", "file or directory to check (default: the workflow directory, as exec picks it, and every action.yml under -C)")
    .option("-C, --directory <dir>", "repository root", ".")
    .option("--workflow", "the files are workflows", false)
    .option("--action", "the files are actions (action.yml)", false)
    .action((opts: { path?: string; directory: string; workflow: boolean; action: boolean }) => {
      if (opts.workflow && opts.action) throw new Error("validate: use --workflow or --action, not both");
      const kind = opts.action ? "action" : opts.workflow ? "workflow" : undefined;
      process.exitCode = runValidate(
        { ...(opts.path !== undefined ? { path: opts.path } : {}), directory: opts.directory, ...(kind ? { kind } : {}) },
        (s) => process.stdout.write(s),
        (s) => process.stderr.write(s),
      );
    });
}
