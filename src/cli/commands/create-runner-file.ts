import { hostname } from "node:os";
import type { Command } from "commander";
import { checkRunnerSecret, isHttpUrl, labelNames, uuidFromSecret, writeRegistration } from "../../config/index.js";
import { createForgejoClient, isUnimplemented } from "../../protocol/index.js";
import { VERSION } from "../../version.js";
import { loadCliConfig, refuseWithDeclaredConnections } from "./register.js";

interface CreateRunnerFileFlags {
  instance: string;
  secret: string;
  name?: string;
  connect?: boolean;
}

export function createRunnerFileCommand(program: Command): void {
  program
    .command("create-runner-file")
    .description("Write the .runner file for a runner pre-registered with `forgejo forgejo-cli actions register --secret`")
    .requiredOption("--instance <url>", "Forgejo instance address")
    .requiredOption("--secret <secret>", "the 40 hexadecimal characters shared with the Forgejo instance")
    .option("--name <name>", "runner name (default: the host name)")
    .option("--connect", "check the secret by declaring the runner to the instance")
    .action(async (flags: CreateRunnerFileFlags, cmd: Command) => {
      const { cfg, log } = await loadCliConfig(cmd);
      refuseWithDeclaredConnections(cfg);
      log.info("Creating runner file");
      if (!isHttpUrl(flags.instance)) throw new Error(`instance address ${JSON.stringify(flags.instance)} is not an http(s) URL`);
      const bad = checkRunnerSecret(flags.secret);
      if (bad) throw new Error(bad);
      const uuid = uuidFromSecret(flags.secret);
      let name = flags.name ?? "";
      if (name === "") {
        name = hostname();
        log.info(`Runner name is empty, using the host name '${name}'`);
      }
      const pinger = createForgejoClient({ baseUrl: flags.instance, codec: cfg.runner.protocol, insecure: cfg.runner.insecure });
      try {
        await pinger.ping(uuid);
      } catch (err) {
        throw new Error(`ping ${flags.instance} failed: ${(err as Error).message}`);
      }
      // forgejo-runner leaves the labels empty here (null in the file); the
      // configured labels are what the daemon declares anyway.
      const reg = { id: 0, uuid, name, token: flags.secret, address: flags.instance, labels: [...cfg.runner.labels] };
      try {
        await writeRegistration(cfg.runner.file, reg);
      } catch (err) {
        throw new Error(`failed to save runner config to ${cfg.runner.file}: ${(err as Error).message}`);
      }
      log.info({ file: cfg.runner.file, uuid }, "Runner file written");
      if (!flags.connect) return;
      const client = createForgejoClient({
        baseUrl: flags.instance, uuid, token: flags.secret, codec: cfg.runner.protocol, insecure: cfg.runner.insecure,
      });
      try {
        const resp = await client.declare(VERSION, labelNames(cfg.runner.labels));
        log.info(
          { name: resp.runner?.name, version: resp.runner?.version, labels: resp.runner?.labels },
          "connection successful",
        );
      } catch (err) {
        if (isUnimplemented(err)) {
          log.warn("Cannot verify the connection because the Forgejo instance is older than v1.21");
          return;
        }
        throw new Error(`Declare failed: ${(err as Error).message}`);
      }
    });
}
