// Loads config.yaml into a fully resolved RunnerConfig: forgejo-runner's
// keys with its defaults and quirks, the v13 `server.connections`, a few Gitea
// act_runner keys, and native-runner's own keys. Every problem is collected
// and reported at once; unknown keys only produce warnings.

import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { minFetchIntervalFor } from "./checks.js";
import { DEFAULT_RUNNER_FILE, defaultConfig } from "./defaults.js";
import { ConfigError, showValue } from "./errors.js";
import { applyLegacyEnv } from "./legacy-env.js";
import { readConnections } from "./read-connections.js";
import {
  readActions, readCache, readContainer, readEnvFile, readHost, readLog, readMetrics, readNix, readRunner, type Scope,
} from "./read-sections.js";
import { newReadContext, Section, type ReadContext } from "./yaml-reader.js";
import type { RunnerConfig } from "./types.js";

export { isHttpUrl, minFetchIntervalFor, normalizeUuid } from "./checks.js";

export interface LoadOptions {
  /** Environment for $HOME, legacy GITEA_* variables and $CREDENTIALS_DIRECTORY. */
  env?: NodeJS.ProcessEnv;
  /** Directory relative paths are resolved against (forgejo-runner uses the working directory). */
  cwd?: string;
}

/** Loads a config file (or only defaults and legacy env vars when `file` is undefined or ""). Throws ConfigError. */
export async function loadConfig(file?: string, opts: LoadOptions = {}): Promise<RunnerConfig> {
  if (file === undefined || file === "") return parseConfig(undefined, undefined, opts);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError([`cannot open config file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`], file);
  }
  return parseConfig(text, file, opts);
}

/** Same as loadConfig, from text (undefined = no config file). `file` names it in messages and `config_file`. */
export function parseConfig(text: string | undefined, file?: string, opts: LoadOptions = {}): RunnerConfig {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const cfg = defaultConfig(env, cwd);
  if (file) cfg.config_file = resolve(cwd, file);
  const { root, ctx } = parseYaml(text, file);
  const scope: Scope = { cfg, env, cwd, ctx };
  const top = new Section(ctx, [], root);
  const section = (name: string, read: (s: Section, scope: Scope) => void): void => {
    const s = top.section(name);
    read(s, scope);
    s.finish();
  };

  section("log", readLog);
  let runnerFile: string | undefined;
  section("runner", (s) => {
    runnerFile = readRunner(s, scope);
  });
  applyLegacyEnv(cfg, env, text !== undefined, ctx.warnings);
  cfg.runner.file = resolve(cwd, runnerFile || cfg.runner.file || DEFAULT_RUNNER_FILE);
  cfg.state_dir = dirname(cfg.runner.file);
  if (cfg.runner.env_file) {
    cfg.runner.env_file = resolve(cwd, cfg.runner.env_file);
    readEnvFile(scope, cfg.runner.env_file);
  }
  section("cache", readCache);
  section("container", readContainer);
  section("host", readHost);
  section("actions", readActions);
  section("nix", readNix);
  section("metrics", readMetrics);
  section("server", (s) => {
    cfg.server.connections = readConnections(s, cfg, env, cwd);
  });
  top.finish();

  if (ctx.errors.length > 0) throw new ConfigError(byPosition(ctx.errors), file);
  cfg.warnings = byPosition(ctx.warnings);
  return cfg;
}

/**
 * forgejo-runner's `Config.Tune`: public Codeberg instances get a fetch
 * interval of at least 30 s (any host ending in codeberg.org, as in v13).
 * Mutates and returns `cfg`.
 */
export function tuneForAddress(cfg: RunnerConfig, url: string): RunnerConfig {
  cfg.runner.fetch_interval = minFetchIntervalFor(url, cfg.runner.fetch_interval);
  if (cfg.runner.fetch_interval_max < cfg.runner.fetch_interval) cfg.runner.fetch_interval_max = cfg.runner.fetch_interval;
  return cfg;
}

function parseYaml(text: string | undefined, file: string | undefined): { root: unknown; ctx: ReadContext } {
  if (text === undefined) return { root: {}, ctx: newReadContext(undefined, undefined, undefined) };
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, merge: true, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) throw new ConfigError(doc.errors.map((e) => `YAML syntax error: ${e.message}`), file);
  let root: unknown;
  try {
    try {
      root = doc.toJS({ maxAliasCount: 1000 }) ?? {};
    } catch (err) {
      // e.g. an alias without its anchor, or an alias bomb
      throw new ConfigError([`YAML error: ${(err as Error).message}`], file);
    }
  } catch (err) {
    throw new ConfigError([`YAML error: ${(err as Error).message}`], file);
  }
  if (typeof root !== "object" || Array.isArray(root)) {
    throw new ConfigError([`the file must be a mapping of sections (log, runner, cache, ...), not ${showValue(root)}`], file);
  }
  return { root, ctx: newReadContext(doc, lines, file) };
}

// Messages in file order; those without a position keep their order at the end.
function byPosition(messages: string[]): string[] {
  const key = (m: string): number => {
    const pos = /^[^\n]*?:(\d+):(\d+): /.exec(m);
    return pos ? Number(pos[1]) * 100_000 + Number(pos[2]) : Number.MAX_SAFE_INTEGER;
  };
  return messages.map((m, i) => ({ m, i, k: key(m) })).sort((a, b) => a.k - b.k || a.i - b.i).map((x) => x.m);
}
