import type { Command } from "commander";
import { runExec } from "../../exec/index.js";
import { isatty } from "node:tty";
import { batchedOutput, fdSink } from "../batched-output.js";

const collect = (value: string, previous: string[]) => [...previous, value];

export function execCommand(program: Command): void {
  program
    .command("exec")
    .description("Run a repository's workflows on this host, without Forgejo")
    .option("-W, --workflows <path>", "workflow file or directory (default: the first of .forgejo/workflows, .gitea/workflows, .github/workflows that exists)")
    .option("--no-recurse", "do not run workflows from subdirectories of the workflow directory")
    .option("-j, --job <id>", "run this job (and the jobs it needs)")
    .option("-E, --event <name>", "event name (default: push)")
    .option("-e, --event-file <file>", "event payload (JSON)")
    .option("-s, --secret <NAME=VALUE>", "secret (NAME alone takes the value from the environment); repeatable", collect, [])
    .option("--secret-file <file>", "secrets from a dotenv file")
    .option("--var <NAME=VALUE>", "variable (vars context); repeatable", collect, [])
    .option("--input <NAME=VALUE>", "workflow_dispatch input; repeatable", collect, [])
    .option("--env <NAME=VALUE>", "environment variable for every job; repeatable", collect, [])
    .option("--env-file <file>", "dotenv file of environment variables for every job (default: .env, when it exists)")
    .option("-d, --debug", "debug logging in every job (as ACTIONS_STEP_DEBUG)", false)
    .option("--detect-event", "without -E: use the first event of the workflows instead of push", false)
    .option("--insecure-secrets", "NOT RECOMMENDED: do not mask secrets in the log", false)
    .option("--use-gitignore [bool]", "accepted for forgejo-runner compatibility; nothing is copied here (jobs run in the working copy)")
    .option("-C, --directory <dir>", "repository root and workspace", ".")
    .option("--json", "print one JSON event per line", false)
    .option("-l, --list", "list the jobs and exit", false)
    .option("-n, --dryrun", "show what would run without running it", false)
    .option("--default-actions-url <url>", "base URL for `uses: owner/repo@ref`", "https://data.forgejo.org")
    .option("--action-cache-offline", "use only cached actions (no network)", false)
    .option("-P, --platform <label=image>", "run jobs whose runs-on names this label in a container of this image (-self-hosted: on the host); repeatable", collect, [])
    .option("--no-skip-checkout", "run actions/checkout of this repository too (it works on the working copy: cleans and resets it)")
    .option("-i, --image <image>", "run jobs whose runs-on no --platform names in a container of this image (default: on the host)")
    .option("--container-host <address>", "container daemon (default: DOCKER_HOST, else /var/run/docker.sock or /run/podman/podman.sock)")
    .option("--container-daemon-socket <path>", "docker socket to mount into job containers (default: none)")
    .option("--network <name>", "network for job containers (default: one per job)")
    .option("--privileged", "let job containers run privileged", false)
    .option("--container-options <options>", "docker run options for job containers (e.g. --cpus 1)")
    .option("-p, --pull", "pull images even when present", false)
    .option("--concurrency <n>", "jobs running at the same time (default: number of CPUs)", (v) => {
      const n = Number.parseInt(v, 10);
      if (!Number.isFinite(n) || n < 1) throw new Error(`--concurrency ${v}: expected a positive integer`);
      return n;
    })
    .action(async (opts: Record<string, unknown>) => {
      const ctl = new AbortController();
      // Straight to fd 1, never through process.stdout (which would make a pipe non-blocking and queue output).
      const stdout = batchedOutput(fdSink(1));
      let interrupts = 0;
      const onSigint = () => {
        interrupts++;
        if (interrupts === 1) {
          process.stderr.write("\nexec: cancelling (press Ctrl-C again to exit at once)\n");
          ctl.abort(new Error("cancelled by the user"));
        } else {
          stdout.flush();
          process.exit(130);
        }
      };
      process.on("SIGINT", onSigint);
      process.on("SIGTERM", onSigint);
      try {
        process.exitCode = await runExec(
          {
            workflows: opts.workflows as string | undefined,
            recurse: opts.recurse as boolean,
            job: opts.job as string | undefined,
            eventName: opts.event as string | undefined,
            eventFile: opts.eventFile as string | undefined,
            secrets: opts.secret as string[],
            secretFile: opts.secretFile as string | undefined,
            vars: opts.var as string[],
            inputs: opts.input as string[],
            env: opts.env as string[],
            directory: opts.directory as string,
            json: opts.json as boolean,
            list: opts.list as boolean,
            dryrun: opts.dryrun as boolean,
            defaultActionsUrl: opts.defaultActionsUrl as string,
            actionCacheOffline: opts.actionCacheOffline as boolean,
            concurrency: opts.concurrency as number | undefined,
            platforms: opts.platform as string[],
            noSkipCheckout: opts.skipCheckout === false,
            envFile: opts.envFile as string | undefined,
            debug: opts.debug as boolean,
            detectEvent: opts.detectEvent as boolean,
            insecureSecrets: opts.insecureSecrets as boolean,
            image: opts.image as string | undefined,
            containerHost: opts.containerHost as string | undefined,
            containerDaemonSocket: opts.containerDaemonSocket as string | undefined,
            network: opts.network as string | undefined,
            privileged: opts.privileged as boolean,
            containerOptions: opts.containerOptions as string | undefined,
            pull: opts.pull as boolean,
          },
          {
            stdout: stdout.write,
            stdoutLine: stdout.writeLine,
            stderr: (s) => process.stderr.write(s),
            color: isatty(1) && !process.env.NO_COLOR,
            signal: ctl.signal,
          },
        );
      } finally {
        stdout.flush();
        process.off("SIGINT", onSigint);
        process.off("SIGTERM", onSigint);
      }
    });
}
