import type { Command } from "commander";
import { loadConfig, parseGoDuration, parseSize } from "../../config/index.js";
import { readFileSync } from "node:fs";
import { startCacheServer } from "../../cache/index.js";
import { createCliLogger } from "../../observability/logger.js";

/** The environment variable that may carry the secret (it is removed from the environment once read). */
export const CACHE_SECRET_ENV = "NATIVE_RUNNER_CACHE_SECRET";

const SECRET_SOURCES = `--secret-file <path>, the ${CACHE_SECRET_ENV} environment variable, or cache.secret / cache.secret_url in the config file`;

interface CacheServerFlags {
  dir?: string;
  host?: string;
  port?: string;
  secret?: string;
  secretFile?: string;
  maxSize?: string;
  macMaxAge?: string;
}

/**
 * `cache-server`: the cache server alone, for proxies of other runners
 * (native-runner `cache.external_server`, or forgejo-runner's) sharing the
 * secret. Flags override the config file's `cache` section. The secret is
 * never taken from the command line, which every local user can read in
 * /proc/<pid>/cmdline.
 */
export function cacheServerCommand(program: Command): void {
  program
    .command("cache-server")
    .description("run the actions cache server standalone (for cache.external_server of other runners)")
    .option("-d, --dir <dir>", "cache directory (default: cache.dir)")
    .option("-s, --host <host>", "address to listen on (default: cache.host, else 127.0.0.1)")
    .option("-p, --port <port>", "port to listen on (default: cache.port)")
    .option("--secret-file <path>", `file holding the secret shared with the proxies (else ${CACHE_SECRET_ENV}, else cache.secret)`)
    .option("--secret <secret>", "refused: a secret on the command line is visible to every local user")
    .option("--max-size <size>", "quota, e.g. 10GiB (default: cache.max_size)")
    .option("--mac-max-age <duration>", "max age of a proxy's signed timestamp, 0 = unbounded (default: cache.mac_max_age)")
    .action(async (flags: CacheServerFlags, cmd: Command) => {
      if (flags.secret !== undefined) {
        throw new Error(`cache-server: --secret is refused: the command line is readable by every local user (/proc/<pid>/cmdline, ps); give the secret with ${SECRET_SOURCES}`);
      }
      const cfg = await loadConfig(cmd.optsWithGlobals<{ config?: string }>().config);
      // The daemon's format: the same logger settings, lines tagged like its built-in cache server.
      const root = await createCliLogger({ level: cfg.log.level, format: cfg.log.format, name: "native-runner" });
      for (const w of cfg.warnings) root.warn(w);
      const logger = root.child({ component: "cache" });
      const fromEnv = process.env[CACHE_SECRET_ENV];
      delete process.env[CACHE_SECRET_ENV];
      const secret = flags.secretFile !== undefined ? readSecretFile(flags.secretFile) : fromEnv || cfg.cache.secret;
      if (!secret) throw new Error(`cache-server: no cache secret given (${SECRET_SOURCES}); refusing to start`);
      const port = flags.port !== undefined ? Number(flags.port) : cfg.cache.port;
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`cache-server: --port ${flags.port}: expected 0..65535`);
      const maxSize = flags.maxSize !== undefined ? parseSize(flags.maxSize) : cfg.cache.max_size;
      if (maxSize === undefined || maxSize <= 0) throw new Error(`cache-server: --max-size ${flags.maxSize}: expected a size such as 10GiB`);
      const macMaxAge = flags.macMaxAge !== undefined ? parseGoDuration(flags.macMaxAge) : cfg.cache.mac_max_age;
      if (macMaxAge === undefined || macMaxAge < 0) throw new Error(`cache-server: --mac-max-age ${flags.macMaxAge}: expected a duration such as 3h`);
      const log = (level: "debug" | "info" | "warn" | "error", msg: string) => logger[level](msg);
      // Handlers first: a SIGTERM sent as soon as the "listening" line appears must not find the default action.
      const stopped = new Promise<string>((resolve) => {
        const stop = (sig: string) => {
          process.off("SIGINT", onInt);
          process.off("SIGTERM", onTerm);
          resolve(sig);
        };
        const onInt = () => stop("SIGINT");
        const onTerm = () => stop("SIGTERM");
        process.on("SIGINT", onInt);
        process.on("SIGTERM", onTerm);
      });
      const server = await startCacheServer({
        dir: flags.dir || cfg.cache.dir,
        host: flags.host || cfg.cache.host || "127.0.0.1",
        port,
        secret,
        maxSize,
        macMaxAge,
        log,
      });
      log("info", `cache server is listening on ${server.url}`);
      log("info", `${await stopped}: stopping the cache server`);
      await server.close();
    });
}

function readSecretFile(path: string): string {
  let secret: string;
  try {
    // A file written by `echo` or an editor ends with a newline that is not part of the secret.
    secret = readFileSync(path, "utf8").replace(/[\r\n]+$/, "");
  } catch (err) {
    throw new Error(`cache-server: cannot read --secret-file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (secret === "") throw new Error(`cache-server: --secret-file ${path} is empty`);
  return secret;
}
