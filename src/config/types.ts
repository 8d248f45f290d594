// The runner's resolved configuration. Field names mirror config.yaml keys
// (snake_case) so that docs and code read the same. Durations are in
// milliseconds, sizes in bytes, paths absolute.

export interface LogConfig {
  level: "trace" | "debug" | "info" | "warn" | "error" | "fatal";
  job_level: "trace" | "debug" | "info" | "warn" | "error" | "fatal";
  /** "auto" = pretty on a TTY, JSON otherwise. */
  format: "auto" | "json" | "pretty";
}

export interface ReportRetryConfig {
  max_retries: number;
  initial_delay: number;
  /** 0 = no cap. */
  max_delay: number;
}

export interface RunnerSection {
  /** Path of the .runner registration file. */
  file: string;
  capacity: number;
  envs: Record<string, string>;
  env_file?: string;
  timeout: number;
  shutdown_timeout: number;
  insecure: boolean;
  fetch_timeout: number;
  /** Largest FetchTask (and other) answer accepted from Forgejo, in bytes. */
  fetch_max_size: number;
  fetch_interval: number;
  /** Idle backoff ceiling (Gitea act_runner key). */
  fetch_interval_max: number;
  report_interval: number;
  report_retry: ReportRetryConfig;
  labels: string[];
  /** Runner-side allow-list: `owner/repo` or `owner/*`. Empty = all repos. */
  trusted_repos: string[];
  /** Optional event allow-list (e.g. ["push", "workflow_dispatch"]). Empty = all. */
  trusted_events: string[];
  /** Connect codec to Forgejo. */
  protocol: "proto" | "json";
}

export interface CacheConfig {
  enabled: boolean;
  dir: string;
  host: string;
  port: number;
  proxy_port: number;
  external_server: string;
  secret: string;
  secret_url?: string;
  actions_cache_url_override: string;
  max_size: number;
  /** Max age of a proxy MAC timestamp. */
  mac_max_age: number;
}

export interface ContainerConfig {
  network: string;
  enable_ipv6: boolean;
  privileged: boolean;
  options: string;
  workdir_parent: string;
  valid_volumes: string[];
  docker_host: string;
  force_pull: boolean;
  force_rebuild: boolean;
  /** Refuse to start when the container daemon does not answer (only with container labels). */
  require_docker: boolean;
  /** How long to wait for the container daemon at start; also the API call timeout. Milliseconds. */
  docker_timeout: number;
}

export interface ResourceLimits {
  /** Bytes; 0 = unlimited. */
  memory_max: number;
  /** Percent of one CPU (150 = 1.5 CPUs); 0 = unlimited. */
  cpu_quota: number;
  /** 0 = unlimited. */
  pids_max: number;
}

export interface HostConfig {
  workdir_parent: string;
  /** "auto" picks the strongest available. */
  isolation: "auto" | "bwrap" | "uid" | "uid+bwrap" | "none";
  cgroups: "auto" | "delegated" | "systemd" | "raw" | "none";
  /** PATH for jobs; default: the runner's PATH. */
  path?: string;
  node?: string;
  uid_range: { start: number; count: number };
  /** Primary gid for per-job uids (e.g. nix-users); undefined = same as uid. */
  job_gid?: number;
  hidden_paths: string[];
  resources: ResourceLimits;
  /** While jobs keep coming, start the next job's worker before its task arrives (unset: true). */
  prestart_worker?: boolean;
}

export interface ActionsConfig {
  cache_dir: string;
  cache_offline: boolean;
  max_cache_size: number;
}

export interface NixGcRootsConfig {
  enabled: boolean;
  /** 0 = no TTL. */
  ttl: number;
  keep_last: number;
  default_branch_only: boolean;
}

export interface NixConfigSection {
  gcroots: NixGcRootsConfig;
  /** Per-job NIX_CONFIG. */
  job_config: string;
  warn_trusted_user: boolean;
}

export interface MetricsConfig {
  enabled: boolean;
  addr: string;
}

/** v13 `server.connections.<name>`. */
export interface ConnectionConfig {
  name: string;
  url: string;
  uuid: string;
  token: string;
  labels: string[];
  fetch_interval: number;
  trusted_repos?: string[];
  trusted_events?: string[];
  /** Cache scoping per connection. */
  cache_mode?: "readwrite" | "read";
}

export interface RunnerConfig {
  /** Path of the loaded config file, if any (hidden from jobs). */
  config_file?: string;
  /** Directory holding runner state (.runner, spool, gcroots); default: dir of runner.file. */
  state_dir: string;
  log: LogConfig;
  runner: RunnerSection;
  cache: CacheConfig;
  container: ContainerConfig;
  host: HostConfig;
  actions: ActionsConfig;
  nix: NixConfigSection;
  metrics: MetricsConfig;
  server: { connections: ConnectionConfig[] };
  /** Warnings collected while loading (unknown keys, ignored values). */
  warnings: string[];
}

/** The .runner file (forgejo-runner compatible). */
export interface RegistrationFile {
  WARNING?: string;
  id: number;
  uuid: string;
  name: string;
  token: string;
  address: string;
  labels: string[];
  ephemeral?: boolean;
}
