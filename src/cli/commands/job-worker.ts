import type { Command } from "commander";

/** Hidden: the per-job worker the daemon starts (stdin and stdout are its channel to the daemon). */
export function jobWorkerCommand(program: Command): void {
  program
    .command("job-worker", { hidden: true })
    .description("Run one job for the daemon (internal)")
    .action(async () => {
      await import("../../worker/entry.js");
    });
}
