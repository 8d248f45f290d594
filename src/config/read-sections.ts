// One reader per config.yaml section. Each applies its keys to the defaults
// already in `cfg`, with forgejo-runner's quirks next to the key they concern.

import { readFileSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { expandHome, isHttpUrl, rebaseFileUrl } from "./checks.js";
import { DEFAULT_FETCH_INTERVAL, DEFAULT_FETCH_TIMEOUT, DEFAULT_REPORT_INITIAL_DELAY, DEFAULT_REPORT_INTERVAL, DEFAULT_REPORT_MAX_RETRIES, DEFAULT_TIMEOUT } from "./defaults.js";
import { parseDotenv } from "./dotenv.js";
import { labelList, positiveOr, repoPatterns } from "./read-fields.js";
import { resolveSecretUrl } from "./secret-url.js";
import type { ReadContext, Section } from "./yaml-reader.js";
import type { RunnerConfig } from "./types.js";

export interface Scope {
  cfg: RunnerConfig;
  env: NodeJS.ProcessEnv;
  cwd: string;
  ctx: ReadContext;
}

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;
const LOG_ALIASES = { warning: "warn", panic: "fatal" } as const;
const GITEA_ONLY = "a Gitea act_runner key that native-runner does not use; ignored";

export function readLog(s: Section, { cfg }: Scope): void {
  cfg.log.level = s.oneOf("level", LOG_LEVELS, LOG_ALIASES) ?? cfg.log.level;
  cfg.log.job_level = s.oneOf("job_level", LOG_LEVELS, LOG_ALIASES) ?? cfg.log.job_level;
  cfg.log.format = s.oneOf("format", ["auto", "json", "pretty"] as const) ?? cfg.log.format;
}

/** Returns runner.file as written (resolved later, after the legacy env vars). */
export function readRunner(s: Section, { cfg }: Scope): string | undefined {
  const file = s.str("file");
  const capacity = s.int("capacity", { expected: "an integer \u2265 1" });
  if (capacity !== undefined) {
    if (capacity < 0) s.warn("capacity", `${capacity} is negative; using 1`);
    cfg.runner.capacity = capacity <= 0 ? 1 : capacity;
  }
  cfg.runner.envs = s.strMap("envs") ?? {};
  const envFile = s.str("env_file");
  if (envFile) cfg.runner.env_file = envFile;
  cfg.runner.timeout = positiveOr(s, "timeout", DEFAULT_TIMEOUT);
  const shutdown = s.duration("shutdown_timeout");
  if (shutdown !== undefined) {
    if (shutdown < 0) s.warn("shutdown_timeout", "negative value ignored; using 0");
    cfg.runner.shutdown_timeout = Math.max(0, shutdown);
  }
  cfg.runner.insecure = s.bool("insecure") ?? false;
  cfg.runner.fetch_timeout = positiveOr(s, "fetch_timeout", DEFAULT_FETCH_TIMEOUT);
  const fetchMax = s.size("fetch_max_size");
  if (fetchMax === 0) s.problem("fetch_max_size", 0, "is zero", "a size such as 32MiB");
  else if (fetchMax !== undefined) cfg.runner.fetch_max_size = fetchMax;
  cfg.runner.fetch_interval = positiveOr(s, "fetch_interval", DEFAULT_FETCH_INTERVAL);
  cfg.runner.fetch_interval_max = positiveOr(s, "fetch_interval_max", cfg.runner.fetch_interval_max);
  if (cfg.runner.fetch_interval_max < cfg.runner.fetch_interval) cfg.runner.fetch_interval_max = cfg.runner.fetch_interval;
  cfg.runner.report_interval = positiveOr(s, "report_interval", DEFAULT_REPORT_INTERVAL);

  const retry = s.section("report_retry");
  const maxRetries = retry.int("max_retries", { min: 0, expected: "an integer \u2265 0" });
  cfg.runner.report_retry.max_retries = maxRetries === undefined || maxRetries === 0 ? DEFAULT_REPORT_MAX_RETRIES : maxRetries;
  cfg.runner.report_retry.initial_delay = positiveOr(retry, "initial_delay", DEFAULT_REPORT_INITIAL_DELAY);
  const maxDelay = retry.duration("max_delay");
  if (maxDelay !== undefined) {
    if (maxDelay < 0) retry.warn("max_delay", "negative value ignored; using 0 (no cap)");
    cfg.runner.report_retry.max_delay = Math.max(0, maxDelay);
  }
  retry.finish();

  cfg.runner.labels = labelList(s, "labels") ?? [];
  cfg.runner.trusted_repos = repoPatterns(s, "trusted_repos") ?? [];
  cfg.runner.trusted_events = s.strList("trusted_events") ?? [];
  cfg.runner.protocol = s.oneOf("protocol", ["proto", "json"] as const) ?? "proto";
  s.ignore(["log_report_interval", "log_report_max_latency", "log_report_batch_size", "state_report_interval", "github_mirror"], GITEA_ONLY);
  return file;
}

/** A directory key must not name an existing file (the runner creates the directory when it is missing). */
function directoryOrAbsent(s: Section, key: string, raw: string, path: string): void {
  try {
    if (!statSync(path).isDirectory()) s.problem(key, raw, `is not a directory (${path} is a file)`, "a directory, created when missing");
  } catch {
    // absent: created later
  }
}

/** Merges runner.env_file into runner.envs; a missing file is ignored, as forgejo-runner documents. */
export function readEnvFile({ cfg, ctx }: Scope, path: string): void {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    return;
  }
  if (isDir) {
    ctx.errors.push(`runner.env_file: ${JSON.stringify(path)} is a directory (expected a dotenv file)`);
    return;
  }
  try {
    Object.assign(cfg.runner.envs, parseDotenv(readFileSync(path, "utf8")));
  } catch (err) {
    ctx.errors.push(`runner.env_file: cannot read ${JSON.stringify(path)}: ${(err as Error).message} (expected KEY=value lines)`);
  }
}

export function readCache(s: Section, { cfg, env, cwd }: Scope): void {
  cfg.cache.enabled = s.bool("enabled") ?? true; // unset counts as true
  const dir = s.str("dir");
  if (dir) {
    cfg.cache.dir = resolve(cwd, expandHome(dir, env));
    directoryOrAbsent(s, "dir", dir, cfg.cache.dir);
  }
  cfg.cache.host = s.str("host") ?? "";
  cfg.cache.port = s.int("port", { min: 0, max: 65535 }) ?? 0;
  cfg.cache.proxy_port = s.int("proxy_port", { min: 0, max: 65535 }) ?? 0;
  const external = s.str("external_server") ?? "";
  if (external !== "" && !isHttpUrl(external)) s.problem("external_server", external, "is not an http(s) URL", "a URL such as http://cache.example:8080/");
  cfg.cache.external_server = external;
  const secret = s.str("secret") ?? "";
  const secretUrl = s.str("secret_url") ?? "";
  if (secret !== "" && secretUrl !== "") {
    s.problem("secret_url", secretUrl, "is set together with cache.secret", "only one of secret and secret_url");
  } else if (secretUrl !== "") {
    cfg.cache.secret_url = secretUrl;
    try {
      cfg.cache.secret = resolveSecretUrl(rebaseFileUrl(secretUrl, cwd), env);
    } catch (err) {
      s.problem("secret_url", secretUrl, `cannot be used: ${(err as Error).message}`, "file:<path> of a readable file");
    }
  } else {
    cfg.cache.secret = secret;
  }
  cfg.cache.actions_cache_url_override = s.str("actions_cache_url_override") ?? "";
  cfg.cache.max_size = s.size("max_size") ?? cfg.cache.max_size;
  const macMaxAge = s.duration("mac_max_age");
  if (macMaxAge !== undefined) {
    if (macMaxAge < 0) s.problem("mac_max_age", s.raw("mac_max_age"), "is negative", "a duration \u2265 0 (0 = no limit)");
    else cfg.cache.mac_max_age = macMaxAge;
  }
  s.ignore(["external_secret_file"], "a NixOS module option, not a runner key (the module rewrites it); ignored");
}

export function readContainer(s: Section, { cfg }: Scope): void {
  cfg.container.network = s.str("network") ?? "";
  const networkMode = s.str("network_mode");
  if (networkMode && cfg.container.network === "") {
    s.warn("network_mode", "deprecated; use container.network");
    // "bridge" used to mean "a new network per job", which is now network "".
    cfg.container.network = networkMode === "bridge" ? "" : networkMode;
  }
  cfg.container.enable_ipv6 = s.bool("enable_ipv6") ?? false;
  cfg.container.privileged = s.bool("privileged") ?? false;
  cfg.container.options = s.str("options") ?? "";
  cfg.container.workdir_parent = s.str("workdir_parent") || "workspace";
  cfg.container.valid_volumes = s.strList("valid_volumes") ?? [];
  cfg.container.docker_host = s.str("docker_host") || "-";
  cfg.container.force_pull = s.bool("force_pull") ?? false;
  cfg.container.force_rebuild = s.bool("force_rebuild") ?? false;
  cfg.container.require_docker = s.bool("require_docker") ?? false;
  const timeout = s.duration("docker_timeout");
  if (timeout !== undefined && timeout >= 0) cfg.container.docker_timeout = timeout;
  s.ignore(["bind_workdir"], GITEA_ONLY);
}

export function readHost(s: Section, { cfg, env, cwd }: Scope): void {
  const workdirParent = s.str("workdir_parent");
  if (workdirParent) {
    cfg.host.workdir_parent = resolve(cwd, expandHome(workdirParent, env));
    directoryOrAbsent(s, "workdir_parent", workdirParent, cfg.host.workdir_parent);
  }
  cfg.host.isolation = s.oneOf("isolation", ["auto", "bwrap", "uid", "uid+bwrap", "none"] as const) ?? "auto";
  cfg.host.cgroups = s.oneOf("cgroups", ["auto", "delegated", "systemd", "raw", "none"] as const) ?? "auto";
  const path = s.str("path");
  if (path) cfg.host.path = path;
  const node = s.str("node");
  if (node) cfg.host.node = resolve(cwd, node);
  readUidRange(s.section("uid_range"), cfg);
  const gid = jobGid(s);
  if (gid !== undefined) cfg.host.job_gid = gid;
  const hidden = s.strList("hidden_paths") ?? [];
  hidden.forEach((p, i) => {
    if (!isAbsolute(p)) s.problem(["hidden_paths", i], p, "is not an absolute path", "an absolute path");
  });
  cfg.host.hidden_paths = hidden;
  const res = s.section("resources");
  cfg.host.resources.memory_max = res.size("memory_max") ?? 0;
  cfg.host.resources.cpu_quota = cpuQuota(res) ?? 0;
  cfg.host.resources.pids_max = res.int("pids_max", { min: 0 }) ?? 0;
  res.finish();
  cfg.host.prestart_worker = s.bool("prestart_worker") ?? true;
}

// count 0 = no per-job uids.
function readUidRange(uids: Section, cfg: RunnerConfig): void {
  const start = uids.int("start", { min: 0, max: 4_294_967_294 }) ?? cfg.host.uid_range.start;
  const count = uids.int("count", { min: 0, max: 1_000_000 }) ?? cfg.host.uid_range.count;
  uids.finish();
  if (count > 0 && start < 1000) {
    uids.problem("start", start, "is a system uid", "a uid \u2265 1000, outside the ranges of existing users");
  } else if (count > 0 && start + count - 1 > 4_294_967_294) {
    uids.problem("count", count, "runs past the largest uid", `at most ${4_294_967_295 - start}`);
  } else if (count > 0 && start <= 65519 && start + count - 1 >= 61184) {
    uids.warn("start", `range ${start}..${start + count - 1} overlaps systemd's DynamicUser uids 61184..65519`);
  }
  cfg.host.uid_range = { start, count };
}

function jobGid(h: Section): number | undefined {
  const v = h.raw("job_gid");
  if (v === undefined) return undefined;
  if (typeof v === "number") return h.int("job_gid", { min: 0, max: 4_294_967_294 });
  if (typeof v === "string") {
    if (/^\d+$/.test(v.trim())) return Number(v.trim());
    const gid = groupId(v.trim());
    if (gid !== undefined) return gid;
    return h.problem("job_gid", v, "is not a known group", "a gid or a group name from /etc/group");
  }
  return h.problem("job_gid", v, "is not a group", "a gid or a group name");
}

function groupId(name: string): number | undefined {
  try {
    for (const line of readFileSync("/etc/group", "utf8").split("\n")) {
      const f = line.split(":");
      if (f[0] === name && f[2] !== undefined && /^\d+$/.test(f[2])) return Number(f[2]);
    }
  } catch {
    // no /etc/group: only numeric gids work
  }
  return undefined;
}

function cpuQuota(res: Section): number | undefined {
  const v = res.raw("cpu_quota");
  if (typeof v === "string" && /^\s*\d+(\.\d+)?\s*%\s*$/.test(v)) return Number(v.trim().slice(0, -1).trim());
  return res.num("cpu_quota", { min: 0, expected: 'a percentage of one CPU, e.g. 150 or "150%"' });
}

export function readActions(s: Section, { cfg, env, cwd }: Scope): void {
  const dir = s.str("cache_dir");
  cfg.actions.cache_dir = dir ? resolve(cwd, expandHome(dir, env)) : resolve(cfg.host.workdir_parent, "actions");
  if (dir) directoryOrAbsent(s, "cache_dir", dir, cfg.actions.cache_dir);
  cfg.actions.cache_offline = s.bool("cache_offline") ?? false;
  cfg.actions.max_cache_size = s.size("max_cache_size") ?? cfg.actions.max_cache_size;
}

export function readNix(s: Section, { cfg }: Scope): void {
  const g = s.section("gcroots");
  cfg.nix.gcroots.enabled = g.bool("enabled") ?? cfg.nix.gcroots.enabled;
  const ttl = g.duration("ttl");
  if (ttl !== undefined) {
    if (ttl < 0) g.problem("ttl", g.raw("ttl"), "is negative", "a duration \u2265 0 (0 = no TTL)");
    else cfg.nix.gcroots.ttl = ttl;
  }
  cfg.nix.gcroots.keep_last = g.int("keep_last", { min: 0 }) ?? cfg.nix.gcroots.keep_last;
  cfg.nix.gcroots.default_branch_only = g.bool("default_branch_only") ?? cfg.nix.gcroots.default_branch_only;
  g.finish();
  const jobConfig = s.str("job_config");
  if (jobConfig !== undefined) cfg.nix.job_config = jobConfig;
  cfg.nix.warn_trusted_user = s.bool("warn_trusted_user") ?? cfg.nix.warn_trusted_user;
}

export function readMetrics(s: Section, { cfg }: Scope): void {
  cfg.metrics.enabled = s.bool("enabled") ?? false;
  const addr = s.str("addr");
  if (addr === undefined || addr === "") return;
  const port = Number(addr.slice(addr.lastIndexOf(":") + 1));
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/.test(addr) || port > 65535) {
    s.problem("addr", addr, "is not an address", "host:port, e.g. 127.0.0.1:9101");
  } else {
    cfg.metrics.addr = addr;
  }
}
