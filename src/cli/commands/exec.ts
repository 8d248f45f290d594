import type { Command } from "commander";
import { parseArgs } from "node:util";
import { runExec, type ExecOptions } from "../../exec/index.js";
import { isatty } from "node:tty";
import { batchedOutput, fdSink } from "../batched-output.js";

const collect = (value: string, previous: string[]) => [...previous, value];

function concurrency(v: string): number {
  const n = Number.parseInt(v, 10);
  if (!Number.isFinite(n) || n < 1) throw new Error(`--concurrency ${v}: expected a positive integer`);
  return n;
}

type Kind = "string" | "list" | "flag" | "negated" | "optional";

/**
 * exec's options, one table for both parsers: commander (help, errors, every unusual argv) and the plain
 * `node:util` parseArgs of the common case (see parseExecArgs).
 */
const OPTIONS: { flags: string; help: string; kind: Kind; default?: string | boolean; parse?: (v: string) => unknown }[] = [
  { flags: "-W, --workflows <path>", kind: "string", help: "workflow file or directory (default: the first of .forgejo/workflows, .gitea/workflows, .github/workflows that exists)" },
  { flags: "--no-recurse", kind: "negated", help: "do not run workflows from subdirectories of the workflow directory" },
  { flags: "-j, --job <id>", kind: "string", help: "run this job (and the jobs it needs)" },
  { flags: "-E, --event <name>", kind: "string", help: "event name (default: push)" },
  { flags: "-e, --event-file <file>", kind: "string", help: "event payload (JSON)" },
  { flags: "-s, --secret <NAME=VALUE>", kind: "list", help: "secret (NAME alone takes the value from the environment); repeatable" },
  { flags: "--secret-file <file>", kind: "string", help: "secrets from a dotenv file" },
  { flags: "--var <NAME=VALUE>", kind: "list", help: "variable (vars context); repeatable" },
  { flags: "--input <NAME=VALUE>", kind: "list", help: "workflow_dispatch input; repeatable" },
  { flags: "--env <NAME=VALUE>", kind: "list", help: "environment variable for every job; repeatable" },
  { flags: "--env-file <file>", kind: "string", help: "dotenv file of environment variables for every job (default: .env, when it exists)" },
  { flags: "-d, --debug", kind: "flag", help: "debug logging in every job (as ACTIONS_STEP_DEBUG)" },
  { flags: "--detect-event", kind: "flag", help: "without -E: use the first event of the workflows instead of push" },
  { flags: "--insecure-secrets", kind: "flag", help: "NOT RECOMMENDED: do not mask secrets in the log" },
  { flags: "--use-gitignore [bool]", kind: "optional", help: "accepted for forgejo-runner compatibility; nothing is copied here (jobs run in the working copy)" },
  { flags: "-C, --directory <dir>", kind: "string", default: ".", help: "repository root and workspace" },
  { flags: "--json", kind: "flag", help: "print one JSON event per line" },
  { flags: "-l, --list", kind: "flag", help: "list the jobs and exit" },
  { flags: "-n, --dryrun", kind: "flag", help: "show what would run without running it" },
  { flags: "--default-actions-url <url>", kind: "string", default: "https://data.forgejo.org", help: "base URL for `uses: owner/repo@ref`" },
  { flags: "--action-cache-offline", kind: "flag", help: "use only cached actions (no network)" },
  { flags: "-P, --platform <label=image>", kind: "list", help: "run jobs whose runs-on names this label in a container of this image (-self-hosted: on the host); repeatable" },
  { flags: "--no-skip-checkout", kind: "negated", help: "run actions/checkout of this repository too (it works on the working copy: cleans and resets it)" },
  { flags: "-i, --image <image>", kind: "string", help: "run jobs whose runs-on no --platform names in a container of this image (default: on the host)" },
  { flags: "--container-host <address>", kind: "string", help: "container daemon (default: DOCKER_HOST, else /var/run/docker.sock or /run/podman/podman.sock)" },
  { flags: "--container-daemon-socket <path>", kind: "string", help: "docker socket to mount into job containers (default: none)" },
  { flags: "--network <name>", kind: "string", help: "network for job containers (default: one per job)" },
  { flags: "--privileged", kind: "flag", help: "let job containers run privileged" },
  { flags: "--container-options <options>", kind: "string", help: "docker run options for job containers (e.g. --cpus 1)" },
  { flags: "-p, --pull", kind: "flag", help: "pull images even when present" },
  { flags: "--concurrency <n>", kind: "string", parse: concurrency, help: "jobs running at the same time (default: number of CPUs)" },
];

/** `-W, --workflows <path>` → { short: "W", long: "workflows", attr: "workflows" } (commander's attribute name). */
function names(flags: string): { short?: string; long: string; attr: string } {
  const m = /^(?:-(\w), )?--([\w-]+)/.exec(flags)!;
  const long = m[2]!;
  const bare = long.startsWith("no-") ? long.slice(3) : long;
  const attr = bare.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
  return { ...(m[1] ? { short: m[1] } : {}), long, attr };
}

/**
 * exec's arguments without commander, for the common case: only the options of the table, no help, no version, no
 * positional argument, no optional-value option. Undefined otherwise: commander then parses (and explains).
 * commander costs an `exec` about 8 ms of its start. Gives what commander's action gets.
 */
export function parseExecArgs(argv: string[]): Record<string, unknown> | undefined {
  if (argv[2] !== "exec") return undefined;
  const config: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {};
  for (const o of OPTIONS) {
    if (o.kind === "optional") continue;
    const n = names(o.flags);
    config[n.long] = { type: o.kind === "string" || o.kind === "list" ? "string" : "boolean", ...(n.short ? { short: n.short } : {}), ...(o.kind === "list" ? { multiple: true } : {}) };
  }
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({ args: argv.slice(3), options: config, strict: true, allowPositionals: false }));
  } catch {
    return undefined;
  }
  const opts: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    if (o.kind === "optional") continue;
    const n = names(o.flags);
    const v = values[n.long];
    switch (o.kind) {
      case "negated":
        opts[n.attr] = v !== true;
        break;
      case "flag":
        opts[n.attr] = v === true;
        break;
      case "list":
        opts[n.attr] = (v as string[] | undefined) ?? [];
        break;
      case "string":
        if (typeof v === "string") {
          try {
            opts[n.attr] = o.parse ? o.parse(v) : v;
          } catch {
            return undefined; // commander says what is wrong with it
          }
        } else if (o.default !== undefined) opts[n.attr] = o.default;
        break;
    }
  }
  return opts;
}

export function execCommand(program: Command, action: (opts: Record<string, unknown>) => Promise<void> | void = execAction): void {
  const cmd = program.command("exec").description("Run a repository's workflows on this host, without Forgejo");
  for (const o of OPTIONS) {
    if (o.kind === "list") cmd.option(o.flags, o.help, collect, []);
    else if (o.parse) cmd.option(o.flags, o.help, o.parse);
    else if (o.kind === "flag") cmd.option(o.flags, o.help, false);
    else if (o.default !== undefined) cmd.option(o.flags, o.help, o.default);
    else cmd.option(o.flags, o.help);
  }
  cmd.action((opts: Record<string, unknown>) => action(opts));
}

/** Runs exec with the options as commander gives them (or parseExecArgs). */
export async function execAction(opts: Record<string, unknown>): Promise<void> {
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
    process.exitCode = await runExec(execOptions(opts), {
      stdout: stdout.write,
      stdoutLine: stdout.writeLine,
      stderr: (s) => process.stderr.write(s),
      color: isatty(1) && !process.env.NO_COLOR,
      signal: ctl.signal,
    });
  } finally {
    stdout.flush();
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigint);
  }
}

function execOptions(opts: Record<string, unknown>): ExecOptions {
  return {
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
  };
}
