import { readFile, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import {
  commaSplit, formatDuration, isHttpUrl, labelNames, loadConfig, parseGoDuration, validateLabels, writeRegistration,
  type RunnerConfig,
} from "../../config/index.js";
import { createForgejoClient, type ForgejoClient } from "../../protocol/index.js";
import { createCliLogger, type Logger } from "../../observability/logger.js";
import { VERSION } from "../../version.js";
import { labelRefusal } from "../../container/job-platform.js";

/**
 * Labels used when neither --labels nor runner.labels give any. forgejo-runner
 * defaults to a docker label; this runner exists to run jobs on the host, so
 * its default is the host label.
 */
export const DEFAULT_REGISTER_LABELS = ["native:host"];

interface RegisterFlags {
  interactive: boolean;
  instance?: string;
  token?: string;
  tokenFile?: string;
  name?: string;
  labels?: string;
  ephemeral?: boolean;
  pingTimeout: string;
}

export function registerCommand(program: Command): void {
  program
    .command("register")
    .description("Register the runner with a Forgejo instance and write the .runner file")
    .option("--no-interactive", "disable interactive mode")
    .option("--instance <url>", "Forgejo instance address")
    .option("--token <token>", "registration token")
    .option("--token-file <file>", "read the registration token from a file")
    .option("--name <name>", "runner name (default: the host name)")
    .option("--labels <labels>", "runner labels, comma separated")
    .option("--ephemeral", "ask Forgejo to delete this runner after it has run one job")
    .option("--ping-timeout <duration>", "give up when the instance does not answer pings for this long (0: keep trying)", "60s")
    .action(async (flags: RegisterFlags, cmd: Command) => {
      const { cfg, log } = await loadCliConfig(cmd);
      refuseWithDeclaredConnections(cfg);
      const pingTimeoutMs = parseGoDuration(flags.pingTimeout);
      if (pingTimeoutMs === undefined || pingTimeoutMs < 0) throw new Error(`--ping-timeout: ${JSON.stringify(flags.pingTimeout)} is not a duration`);
      let token = flags.token;
      if (flags.tokenFile !== undefined) {
        if (token) throw new Error("--token and --token-file cannot be used together");
        token = await readTokenFile(flags.tokenFile, log);
      }
      log.info({ arch: process.arch, os: process.platform, version: VERSION }, "Registering runner");
      const inputs = flags.interactive
        ? await promptInputs(cfg, log, { instance: flags.instance, token })
        : nonInteractiveInputs(cfg, log, { ...flags, token });
      if (!inputs) return;
      await doRegister(cfg, log, { ...inputs, ephemeral: flags.ephemeral === true, pingTimeoutMs });
      log.info({ file: cfg.runner.file }, "Runner registered successfully");
    });
}

export interface RegisterInputs {
  instance: string;
  token: string;
  name: string;
  labels: string[];
}

/** Loads the config named by the global -c/--config and a logger configured from it; prints config warnings. */
export async function loadCliConfig(cmd: Command): Promise<{ cfg: RunnerConfig; log: Logger }> {
  const file = (cmd.optsWithGlobals() as { config?: string }).config;
  const cfg = await loadConfig(file);
  const log = await createCliLogger({ level: cfg.log.level, format: cfg.log.format, name: "native-runner" });
  for (const w of cfg.warnings) log.warn(w);
  return { cfg, log };
}

/** A .runner file next to server.connections would stop the daemon from starting: refuse early. */
export function refuseWithDeclaredConnections(cfg: RunnerConfig): void {
  if (cfg.server.connections.length === 0) return;
  throw new Error(
    `the config declares server.connections (${cfg.server.connections.map((c) => c.name).join(", ")}); ` +
      `a registration file (${cfg.runner.file}) cannot be used together with them`,
  );
}

function nonInteractiveInputs(
  cfg: RunnerConfig,
  log: Logger,
  flags: { instance?: string; token?: string; name?: string; labels?: string },
): RegisterInputs {
  let labels = DEFAULT_REGISTER_LABELS;
  const flagLabels = (flags.labels ?? "").trim();
  if (flagLabels !== "") labels = commaSplit(flagLabels);
  if (cfg.runner.labels.length > 0) {
    if (flagLabels !== "" && labels.join(",") !== cfg.runner.labels.join(",")) {
      log.warn("Labels from the command line are ignored; using the labels defined in the config file (runner.labels)");
    }
    labels = cfg.runner.labels;
  }
  let name = flags.name ?? "";
  if (name === "") {
    name = hostname();
    log.info(`Runner name is empty, using the host name '${name}'`);
  }
  const inputs = { instance: flags.instance ?? "", token: flags.token ?? "", name, labels };
  if (inputs.instance === "") throw new Error("instance address is empty (use --instance)");
  if (!isHttpUrl(inputs.instance)) throw new Error(`instance address ${JSON.stringify(inputs.instance)} is not an http(s) URL`);
  if (inputs.token === "") throw new Error("token is empty (use --token or --token-file)");
  const bad = validateLabels(labels);
  if (bad) throw new Error(`invalid labels: ${bad}`);
  const refused = labelRefusal(labels);
  if (refused) throw new Error(refused);
  return inputs;
}

async function promptInputs(
  cfg: RunnerConfig,
  log: Logger,
  given: { instance?: string; token?: string },
): Promise<RegisterInputs | undefined> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY === true });
  const lines = rl[Symbol.asyncIterator]();
  const ask = async (question: string): Promise<string> => {
    process.stderr.write(question + "\n");
    const next = await lines.next();
    if (next.done) throw new Error("input ended before registration was complete");
    return String(next.value).trim();
  };
  try {
    if (await fileExists(cfg.runner.file)) {
      const answer = await ask(`Runner is already registered (${cfg.runner.file}), overwrite local config? [y/N]`);
      if (answer !== "y" && answer !== "Y") return undefined;
    }
    let instance = given.instance ?? "";
    while (!isHttpUrl(instance)) {
      if (instance !== "") log.info(`${JSON.stringify(instance)} is not an http(s) URL`);
      instance = await ask("Enter the Forgejo instance URL (for example, https://next.forgejo.org/):");
    }
    let token = given.token ?? "";
    while (token === "") token = await ask("Enter the runner token:");
    const host = hostname();
    const name = (await ask(`Enter the runner name (if set empty, use hostname: ${host}):`)) || host;
    let labels: string[];
    if (cfg.runner.labels.length > 0) {
      labels = cfg.runner.labels;
      log.info({ labels }, "Using the labels from the config file (runner.labels)");
    } else {
      for (;;) {
        const answer = await ask(
          `Enter the runner labels, leave blank to use the default labels (comma-separated, default: ${DEFAULT_REGISTER_LABELS.join(",")}; ` +
            "for example, native:host,ubuntu-22.04:docker://node:20-bookworm):",
        );
        labels = answer === "" ? DEFAULT_REGISTER_LABELS : commaSplit(answer);
        const bad = validateLabels(labels) ?? labelRefusal(labels);
        if (!bad) break;
        log.info(`Invalid labels (${bad}), please input again`);
      }
    }
    log.info({ name, instance, labels }, "Registering runner");
    return { instance, token, name, labels };
  } finally {
    rl.close();
  }
}

/** Pings until the instance answers (every second, up to pingTimeoutMs), calls Register and writes runner.file. */
export async function doRegister(
  cfg: RunnerConfig,
  log: Logger,
  inputs: RegisterInputs & { ephemeral: boolean; pingTimeoutMs: number },
): Promise<void> {
  const refused = labelRefusal(inputs.labels);
  if (refused) throw new Error(refused);
  const client = createForgejoClient({ baseUrl: inputs.instance, codec: cfg.runner.protocol, insecure: cfg.runner.insecure });
  await pingUntilUp(client, inputs.name, inputs.pingTimeoutMs, log);
  const names = labelNames(inputs.labels);
  let resp;
  try {
    resp = await client.register({
      name: inputs.name,
      token: inputs.token,
      version: VERSION,
      agentLabels: names,
      labels: names,
      ephemeral: inputs.ephemeral,
    });
  } catch (err) {
    throw new Error(`Failed to register runner: ${(err as Error).message}`);
  }
  const runner = resp.runner;
  if (!runner || runner.uuid === "" || runner.token === "") throw new Error("Failed to register runner: the server answered without a runner uuid and token");
  await writeRegistration(cfg.runner.file, {
    id: Number(runner.id),
    uuid: runner.uuid,
    name: runner.name,
    token: runner.token,
    address: inputs.instance,
    labels: inputs.labels,
    ...(inputs.ephemeral ? { ephemeral: true } : {}),
  }).catch((err: Error) => {
    throw new Error(`failed to save runner config to ${cfg.runner.file}: ${err.message}`);
  });
}

/** Pings every second until the instance answers; timeoutMs 0 keeps trying for ever. */
async function pingUntilUp(client: ForgejoClient, data: string, timeoutMs: number, log: Logger): Promise<void> {
  const forever = timeoutMs === 0;
  const deadline = Date.now() + timeoutMs;
  log.info(
    { instance: client.baseUrl },
    forever
      ? "Waiting for the Forgejo instance to answer a ping (no time limit: --ping-timeout 0)"
      : `Waiting for the Forgejo instance to answer a ping (up to ${formatDuration(timeoutMs)}; --ping-timeout)`,
  );
  for (let attempt = 1; ; attempt++) {
    try {
      await client.ping(data, { timeoutMs: forever ? 10_000 : Math.max(1000, Math.min(10_000, deadline - Date.now())) });
      log.info({ instance: client.baseUrl }, "The Forgejo instance answered");
      return;
    } catch (err) {
      if (!forever && Date.now() + 1000 > deadline) {
        throw new Error(`Cannot ping the Forgejo instance server at ${client.baseUrl}: ${(err as Error).message} (gave up after ${formatDuration(timeoutMs)}; --ping-timeout 0 keeps trying)`);
      }
      const left = forever ? "" : `; giving up in ${formatDuration(Math.max(0, deadline - Date.now()))}`;
      log.warn({ err: (err as Error).message, attempt }, `Cannot ping the Forgejo instance server; retrying in 1s${left}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** A raw token file, or (older NixOS modules) an environment file with a TOKEN= line. */
async function readTokenFile(path: string, log: Logger): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new Error(`cannot read --token-file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const envLine = /^\s*TOKEN\s*=\s*(.*?)\s*$/m.exec(text);
  if (envLine) {
    log.info(`--token-file ${path} holds a TOKEN= line (an environment file); using its value`);
    return envLine[1]!.replace(/^(["'])(.*)\1$/, "$2");
  }
  const token = text.trim();
  if (token === "") throw new Error(`--token-file ${path} is empty`);
  return token;
}

async function fileExists(path: string): Promise<boolean> {
  try {
    return !(await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
