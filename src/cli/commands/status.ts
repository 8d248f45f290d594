import type { Command } from "commander";
import { join } from "node:path";
import { loadConfig } from "../../config/index.js";
import { formatStatus, readStatus } from "../../observability/status.js";

/** Path of the status file a daemon with this config writes. */
export function statusFileFor(stateDir: string): string {
  return join(stateDir, "status.json");
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function statusCommand(program: Command): void {
  program
    .command("status")
    .description("show the daemon's running jobs, uptime, connections and recent errors")
    .option("--json", "print the raw status as JSON")
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const cfg = await loadConfig(cmd.optsWithGlobals().config as string | undefined);
      const file = statusFileFor(cfg.state_dir);
      let st;
      try {
        st = await readStatus(file);
      } catch {
        process.stderr.write(`no daemon status at ${file}: is the daemon running with this config?\n`);
        process.exitCode = 1;
        return;
      }
      const running = alive(st.pid) && Date.now() - Date.parse(st.updatedAt) < 60_000;
      if (opts.json) process.stdout.write(JSON.stringify({ ...st, running }, null, 2) + "\n");
      else process.stdout.write(formatStatus(st, running));
      if (!running) process.exitCode = 1;
    });
}
