import type { Command } from "commander";
import { startOneJob, EXIT_NO_TASK, installCrashGuard } from "../../daemon/index.js";
import { addConnectionFlags, onSignals, prepareRunner, type ConnectionFlags } from "./daemon.js";

interface OneJobFlags extends ConnectionFlags {
  wait?: boolean;
  handle?: string;
}

export function oneJobCommand(program: Command): void {
  addConnectionFlags(
    program
      .command("one-job")
      .description("Fetch one job, run it and exit (exit code 2 when there was no job)")
      .option("-w, --wait", "keep polling until a job arrives")
      .option("--handle <handle>", "run this specific job attempt (newer Forgejo)"),
  ).action(async (flags: OneJobFlags, cmd: Command) => {
    const setup = await prepareRunner(cmd, flags, { oneJob: true });
    installCrashGuard(setup.log);
    if (setup.options.connections.length > 1) {
      setup.log.warn("one-job uses the first connection only");
    }
    try {
      const job = startOneJob({ ...setup.options, wait: flags.wait === true, handle: flags.handle });
      const detach = onSignals(setup.log, () => void job.shutdown(), () => job.cancelAll());
      const code = await job.done;
      detach();
      if (code === EXIT_NO_TASK) setup.log.info("no task received");
      process.exitCode = code;
    } finally {
      await setup.close();
    }
  });
}
