// forgejo-runner's deprecated environment variables (its deprecated.go):
// honoured only when no config file is given, otherwise ignored with a warning.

import type { RunnerConfig } from "./types.js";

export function applyLegacyEnv(cfg: RunnerConfig, env: NodeJS.ProcessEnv, fileUsed: boolean, warnings: string[]): void {
  const take = (key: string): string | undefined => {
    const v = env[key];
    if (v === undefined) return undefined;
    warnings.push(fileUsed ? `env ${key} has been ignored because a config file is used` : `env ${key} is deprecated; use a config file instead`);
    return fileUsed ? undefined : v;
  };
  // Go's strconv.ParseBool, true side.
  const parseBool = (v: string): boolean => ["1", "t", "T", "TRUE", "true", "True"].includes(v);
  const debug = take("GITEA_DEBUG");
  if (debug !== undefined && parseBool(debug)) cfg.log.level = "debug";
  const trace = take("GITEA_TRACE");
  if (trace !== undefined && parseBool(trace)) cfg.log.level = "trace";
  const cap = take("GITEA_RUNNER_CAPACITY");
  if (cap !== undefined && /^[-+]?\d+$/.test(cap) && Number(cap) > 0) cfg.runner.capacity = Number(cap);
  const file = take("GITEA_RUNNER_FILE");
  if (file !== undefined) cfg.runner.file = file;
  const environ = take("GITEA_RUNNER_ENVIRON");
  if (environ !== undefined) {
    for (const pair of environ.split(",")) {
      const i = pair.indexOf(":");
      if (i > 0) cfg.runner.envs[pair.slice(0, i)] = pair.slice(i + 1);
    }
  }
  const envFile = take("GITEA_RUNNER_ENV_FILE");
  if (envFile !== undefined) cfg.runner.env_file = envFile;
}
