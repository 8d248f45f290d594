import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { hostname } from "node:os";
import type { Command } from "commander";
import {
  labelNames, loadConfig, parseLabel, parseGoDuration, readRegistration, resolveConnections, resolveSecretUrl, writeRegistration,
  type ConnectionConfig, type RegistrationFile, type RunnerConfig,
} from "../../config/index.js";
import { startDaemon, type DaemonOptions, createDaemonObservability, installCrashGuard, HOT_WINDOW_MS } from "../../daemon/index.js";
import { createNixIntegration, type NixIntegration } from "../../nix/index.js";
import type { CacheActivity, CacheService } from "../../cache/index.js";
import { defaultWorkerCommand, runJobInWorker, WarmWorkers } from "../../worker/index.js";
import { createHostBackend } from "../../host/index.js";
import type { HostBackend } from "../../host/sandbox.js";
import { createCliLogger, type Logger } from "../../observability/logger.js";
import { VERSION } from "../../version.js";
import { labelRefusal } from "../../container/job-platform.js";
import { daemonContainerRuntime } from "../../container/daemon-runtime.js";
import { outboundAddress } from "../../container/outbound.js";
import type { ContainerRuntime } from "../../container/container-backend.js";

/** v13 flags that describe a connection without a .runner file. */
export interface ConnectionFlags {
  url?: string;
  uuid?: string;
  tokenUrl?: string;
  label?: string[];
  fetchInterval?: string;
}

export function addConnectionFlags(cmd: Command): Command {
  return cmd
    .option("--url <url>", "Forgejo URL to connect to (instead of the .runner file)")
    .option("--uuid <uuid>", "runner uuid for --url")
    .option("--token-url <url>", "runner token for --url, as a file: URL ($CREDENTIALS_DIRECTORY is expanded)")
    .option("--label <label>", "runner label for --url (repeatable)", (v: string, acc: string[] = []) => [...acc, v])
    .option("--fetch-interval <duration>", "how often to ask for a task (e.g. 2s)");
}

export function daemonCommand(program: Command): void {
  addConnectionFlags(
    program.command("daemon").description("Run as a runner daemon: poll Forgejo for jobs and run them"),
  ).action(async (flags: ConnectionFlags, cmd: Command) => {
    const setup = await prepareRunner(cmd, flags);
    installCrashGuard(setup.log);
    const obs = await createDaemonObservability(setup.cfg, VERSION, setup.log);
    setup.nix.onUsage((roots, bytes) => obs.observer.nixUsage?.(roots, bytes));
    setup.cacheActivity.sink = (a) => obs.observer.cacheActivity?.(a);
    try {
      const daemon = startDaemon({ ...setup.options, observer: obs.observer });
      await obs.start();
      const detach = onSignals(
        setup.log,
        () => {
          obs.stopping();
          void daemon.shutdown();
        },
        () => daemon.cancelAll(),
      );
      const code = await daemon.done;
      detach();
      setup.log.info({ code }, "daemon stopped");
      process.exitCode = code;
    } finally {
      await obs.close();
      await setup.close();
    }
  });
}

export interface PreparedRunner {
  cfg: RunnerConfig;
  log: Logger;
  options: DaemonOptions;
  /** GC-root retention and per-job NIX_CONFIG (already started). */
  nix: NixIntegration;
  /** Where the cache service reports jobs' lookups and bytes (set once metrics exist). */
  cacheActivity: { sink?: (a: CacheActivity) => void };
  /** Stops what prepareRunner started (the cache service). */
  close(): Promise<void>;
}

/** Config, connections, host backend and logger: everything `daemon` and `one-job` share. */
export async function prepareRunner(cmd: Command, flags: ConnectionFlags, o: { oneJob?: boolean } = {}): Promise<PreparedRunner> {
  const file = (cmd.optsWithGlobals() as { config?: string }).config;
  const cfg = await loadConfig(file);
  const log = await createCliLogger({ level: cfg.log.level, format: cfg.log.format, name: "native-runner" });
  for (const w of cfg.warnings) log.warn(w);

  let registration: RegistrationFile | undefined;
  let connections: ConnectionConfig[];
  if (flags.url !== undefined) {
    connections = [connectionFromFlags(cfg, flags)];
  } else {
    if (flags.uuid || flags.tokenUrl || flags.label) throw new Error("--uuid, --token-url and --label need --url");
    registration = existsSync(cfg.runner.file) ? await readRegistration(cfg.runner.file) : undefined;
    connections = resolveConnections(cfg, registration);
    if (flags.fetchInterval !== undefined) {
      const ms = parseDurationFlag("--fetch-interval", flags.fetchInterval);
      connections = connections.map((c) => ({ ...c, fetch_interval: ms }));
    }
  }
  if (connections.length === 0) {
    throw new Error(
      `no Forgejo connection: ${cfg.runner.file} does not exist and the config has no server.connections ` +
        "(run `register`, or use --url/--uuid/--token-url)",
    );
  }
  for (const c of connections) {
    const refused = labelRefusal(c.labels);
    if (refused) throw new Error(`connection ${c.name}: ${refused}`);
    if (c.labels.length === 0) log.warn({ connection: c.name }, "no labels configured, the runner may not be able to pick up jobs");
  }

  // Container jobs need the container daemon; its leftovers from a killed run are removed now.
  let containerRuntime: ContainerRuntime | undefined;
  if (connections.some((c) => c.labels.some((l) => parseLabel(l).schema === "docker"))) {
    const { runtime, swept } = await daemonContainerRuntime(cfg, (m) => log.warn(m));
    containerRuntime = runtime;
    if (swept.containers + swept.networks + swept.volumes > 0) log.info(swept, "removed containers, networks and volumes left by an earlier run");
  }
  const baseHost = await hostBackend(cfg, log);
  const worker = await defaultWorkerCommand();
  // While jobs keep coming (the poller's hot window), the next job's worker is started before its task.
  const warm = cfg.host.prestart_worker !== false && !o.oneJob
    ? new WarmWorkers(baseHost, { worker, keepMs: HOT_WINDOW_MS, diag: (level, msg) => log[level](msg) })
    : undefined;
  const host = warm?.host ?? baseHost;
  const cacheActivity: PreparedRunner["cacheActivity"] = {};
  // Job containers cannot reach 127.0.0.1 of the host: without cache.host, the proxy uses the outbound address.
  const cacheHost = cfg.cache.host || (containerRuntime ? ((await outboundAddress()) ?? "") : "");
  const cache = cfg.cache.enabled ? await startCache({ ...cfg, cache: { ...cfg.cache, host: cacheHost } }, log, (a) => cacheActivity.sink?.(a)) : undefined;
  const nix = createNixIntegration({ nix: cfg.nix, stateDir: cfg.state_dir, log });
  const options: DaemonOptions = {
    config: cfg,
    connections,
    host,
    log,
    version: VERSION,
    // Each job runs in its own worker process with the job's privileges; the daemon loads no engine.
    runJob: (req, o) =>
      runJobInWorker(req, {
        ...o,
        worker,
        sharedActionCache: host.name.startsWith("none/"),
        diag: (level, msg) => log[level]({ job: req.jobKey }, msg),
      }),
    runnerName: registration?.name ?? connections[0]?.name ?? hostname(),
    labelNames: (c) => labelNames(c.labels),
    hostFor: (base, job, jobLog) => nix.hostFor(base, job, jobLog),
    ...(containerRuntime
      ? {
          containerRuntime: () => Promise.resolve(containerRuntime),
          // A container job's engine runs in a worker on the host backend, like any job; its steps run in the
          // container, which the daemon makes around the worker's directories and runs processes in on its behalf.
          runContainerJob: (req, o, container) =>
            runJobInWorker(req, {
              ...o,
              worker,
              sharedActionCache: host.name.startsWith("none/"),
              diag: (level, msg) => log[level]({ job: req.jobKey }, msg),
              container: async (jobSandbox) => {
                const hints = jobSandbox.killHints?.();
                const owner = hints?.uid !== undefined ? { uid: hints.uid, gid: hints.gid ?? hints.uid } : undefined;
                const sandbox = await container.prepareIn(jobSandbox.dirs, req.jobKey, owner);
                return { sandbox, programs: sandbox.programList() };
              },
            }),
        }
      : {}),
    prepareJobEnv: cache
      ? async (job) => {
          const handle = cache.registerJob({
            repository: job.repository,
            runtimeToken: job.runtimeToken,
            eventName: job.eventName,
            event: job.event,
            ref: job.ref,
            readOnly: job.readOnly,
            ...(job.runId !== undefined ? { runId: job.runId } : {}),
          });
          return { env: handle.env, release: () => handle.release() };
        }
      : undefined,
    onDeclared: async (conn) => {
      // forgejo-runner keeps the effective labels in .runner (rewritten only when they changed).
      if (!registration) return;
      try {
        await writeRegistration(cfg.runner.file, { ...registration, labels: [...conn.labels] });
      } catch (err) {
        log.warn({ err: (err as Error).message, file: cfg.runner.file }, "could not update the labels in the registration file");
      }
    },
  };
  await nix.start();
  return {
    cfg,
    log,
    options,
    nix,
    cacheActivity,
    close: async () => {
      nix.close();
      await warm?.close();
      await cache?.close();
    },
  };
}

async function startCache(cfg: RunnerConfig, log: Logger, onActivity: (a: CacheActivity) => void): Promise<CacheService> {
  const c = cfg.cache;
  // The cache (HTTP servers, SQLite) is loaded only when it is enabled.
  const { startCacheService } = await import("../../cache/index.js");
  return startCacheService({
    dir: c.dir,
    host: c.host,
    port: c.port,
    proxyPort: c.proxy_port,
    secret: c.secret, // secret_url is already resolved by the loader
    maxSize: c.max_size,
    macMaxAge: c.mac_max_age,
    ...(c.external_server ? { externalServer: c.external_server } : {}),
    ...(c.actions_cache_url_override ? { urlOverride: c.actions_cache_url_override } : {}),
    log: (level, msg) => log.child({ component: "cache" })[level](msg),
    onActivity,
  });
}

function connectionFromFlags(cfg: RunnerConfig, flags: ConnectionFlags): ConnectionConfig {
  if (!flags.uuid) throw new Error("--url needs --uuid");
  if (!flags.tokenUrl) throw new Error("--url needs --token-url");
  const labels = flags.label && flags.label.length > 0 ? flags.label : cfg.runner.labels;
  labelNames(labels); // invalid labels fail here, with the label in the message
  return {
    name: new URL(flags.url!).host,
    url: flags.url!,
    uuid: flags.uuid,
    token: resolveSecretUrl(flags.tokenUrl),
    labels,
    fetch_interval: flags.fetchInterval !== undefined ? parseDurationFlag("--fetch-interval", flags.fetchInterval) : cfg.runner.fetch_interval,
    trusted_repos: [...cfg.runner.trusted_repos],
    trusted_events: [...cfg.runner.trusted_events],
  };
}

function parseDurationFlag(flag: string, text: string): number {
  const ms = parseGoDuration(text);
  if (ms === undefined || ms <= 0) throw new Error(`${flag}: ${JSON.stringify(text)} is not a positive duration (e.g. 2s)`);
  return ms;
}

async function hostBackend(cfg: RunnerConfig, log: Logger): Promise<HostBackend> {
  // Shared read-only with jobs, so it must exist before the first job's sandbox is planned.
  await mkdir(cfg.actions.cache_dir, { recursive: true, mode: 0o755 });
  return createHostBackend({
    host: cfg.host,
    stateDir: cfg.state_dir,
    configFile: cfg.config_file,
    cacheDir: cfg.cache.enabled ? cfg.cache.dir : undefined,
    registrationFile: cfg.runner.file,
    // Jobs run fetched actions from the shared cache, which sits in workdir_parent (hidden under bwrap).
    readOnlyPaths: [cfg.actions.cache_dir],
    log: (level, msg) => log[level](msg),
  });
}

/**
 * First SIGINT/SIGTERM: graceful shutdown. A second one: cancel running jobs
 * now (their final reports still go out).
 */
export function onSignals(log: Logger, graceful: () => void, force: () => void): () => void {
  let count = 0;
  const handler = (sig: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      log.info({ signal: sig }, "stopping: no new jobs; waiting for running jobs (runner.shutdown_timeout)");
      graceful();
    } else {
      log.warn({ signal: sig }, "stopping now: cancelling running jobs");
      force();
    }
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
}
