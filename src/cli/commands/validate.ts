import type { Command } from "commander";
import { runValidate } from "../../exec/index.js";

export function validateCommand(program: Command): void {
  program
    .command("validate")
    .description("Check workflow and action files (exit 1 when invalid)")
    .option("-W, --path <path>", "file or directory to check (default: the workflow directory, as exec picks it, and every action.yml)")
    .option("-C, --directory <dir>", "repository to check (default: the current directory)")
    .option("--repository <url>", "clone this repository (git URL or path) and check it")
    .option("--clonedir <dir>", "where to clone --repository (kept; an existing directory is checked as it is)")
    .option("--workflow", "only workflows; with --path: the files are workflows", false)
    .option("--action", "only actions; with --path: the files are actions (action.yml)", false)
    .action((opts: { path?: string; directory?: string; repository?: string; clonedir?: string; workflow: boolean; action: boolean }) => {
      if (opts.workflow && opts.action) throw new Error("validate: use --workflow or --action, not both");
      if (opts.clonedir !== undefined && opts.repository === undefined) throw new Error("validate: --clonedir needs --repository");
      const kind = opts.action ? "action" : opts.workflow ? "workflow" : undefined;
      process.exitCode = runValidate(
        {
          ...(opts.path !== undefined ? { path: opts.path } : {}),
          ...(opts.directory !== undefined ? { directory: opts.directory } : {}),
          ...(opts.repository !== undefined ? { repository: opts.repository } : {}),
          ...(opts.clonedir !== undefined ? { clonedir: opts.clonedir } : {}),
          ...(kind ? { kind } : {}),
        },
        (s) => process.stdout.write(s),
        (s) => process.stderr.write(s),
      );
    });
}
