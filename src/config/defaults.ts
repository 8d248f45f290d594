// Default values. Those of forgejo-runner keys are forgejo-runner's
// (`LoadDefault` in its config package); the others are native-runner's own.

import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { RunnerConfig } from "./types.js";

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
export const GiB = 1024 ** 3;

export const DEFAULT_RUNNER_FILE = ".runner";
export const DEFAULT_TIMEOUT = 3 * HOUR;
export const DEFAULT_FETCH_TIMEOUT = 5 * SECOND;
export const DEFAULT_FETCH_INTERVAL = 2 * SECOND;
/**
 * Idle backoff ceiling: by default fetch_interval, i.e. no backoff, so a runner picks up a job within
 * fetch_interval however long it has idled (any configured backoff is capped at 30 s by the poller).
 */
export const DEFAULT_FETCH_INTERVAL_MAX = DEFAULT_FETCH_INTERVAL;
export const DEFAULT_REPORT_INTERVAL = SECOND;
export const DEFAULT_REPORT_MAX_RETRIES = 10;
export const DEFAULT_REPORT_INITIAL_DELAY = 100;
export const CODEBERG_MIN_FETCH_INTERVAL = 30 * SECOND;
export const DEFAULT_JOB_NIX_CONFIG = "accept-flake-config = false\nexperimental-features = nix-command flakes";

/** The home directory the defaults hang off: $HOME, else the passwd entry. */
export function homeDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.HOME && env.HOME !== "" ? env.HOME : homedir();
}

/** A complete configuration with every default applied, as if no config file was given. */
export function defaultConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): RunnerConfig {
  const home = homeDir(env);
  const runnerFile = resolve(cwd, DEFAULT_RUNNER_FILE);
  const workdirParent = resolve(cwd, join(home, ".cache", "act"));
  return {
    state_dir: dirname(runnerFile),
    log: { level: "info", job_level: "info", format: "auto" },
    runner: {
      file: runnerFile,
      capacity: 1,
      envs: {},
      timeout: DEFAULT_TIMEOUT,
      shutdown_timeout: 0,
      insecure: false,
      fetch_timeout: DEFAULT_FETCH_TIMEOUT,
      fetch_max_size: 32 * 1024 * 1024,
      fetch_interval: DEFAULT_FETCH_INTERVAL,
      fetch_interval_max: DEFAULT_FETCH_INTERVAL_MAX,
      report_interval: DEFAULT_REPORT_INTERVAL,
      report_retry: { max_retries: DEFAULT_REPORT_MAX_RETRIES, initial_delay: DEFAULT_REPORT_INITIAL_DELAY, max_delay: 0 },
      labels: [],
      trusted_repos: [],
      trusted_events: [],
      protocol: "proto",
    },
    cache: {
      enabled: true,
      dir: resolve(cwd, join(home, ".cache", "actcache")),
      host: "",
      port: 0,
      proxy_port: 0,
      external_server: "",
      secret: "",
      actions_cache_url_override: "",
      max_size: 10 * GiB,
      mac_max_age: 10 * MINUTE,
    },
    container: {
      network: "",
      enable_ipv6: false,
      privileged: false,
      options: "",
      workdir_parent: "workspace",
      valid_volumes: [],
      docker_host: "-",
      force_pull: false,
      force_rebuild: false,
      require_docker: false,
      docker_timeout: 0,
    },
    host: {
      workdir_parent: workdirParent,
      isolation: "auto",
      cgroups: "auto",
      // Off unless configured; 1900000/1000 is the documented suggestion.
      uid_range: { start: 0, count: 0 },
      hidden_paths: [],
      resources: { memory_max: 0, cpu_quota: 0, pids_max: 0 },
      prestart_worker: true,
    },
    actions: {
      cache_dir: join(workdirParent, "actions"),
      cache_offline: false,
      max_cache_size: 5 * GiB,
    },
    nix: {
      gcroots: { enabled: true, ttl: 30 * DAY, keep_last: 5, default_branch_only: true },
      job_config: DEFAULT_JOB_NIX_CONFIG,
      warn_trusted_user: true,
    },
    metrics: { enabled: false, addr: "127.0.0.1:9101" },
    server: { connections: [] },
    warnings: [],
  };
}
