// The allow-listed base environment of every job process. The daemon's own
// environment is never passed on wholesale: it may hold tokens, credentials
// directories (CREDENTIALS_DIRECTORY), NOTIFY_SOCKET and the like.

/** Variables copied from the runner's environment when set (LC_* is a prefix). */
export const INHERITED_ENV = ["LANG", "LC_*", "TZ", "TERM"] as const;

export interface JobEnvInput {
  /** PATH for jobs: host.path, else the runner's PATH. */
  path: string;
  home: string;
  temp: string;
  /** Per-job user name (uid backend); sets USER and LOGNAME. */
  user?: string;
  /** Where inherited values come from (default: process.env). */
  source?: NodeJS.ProcessEnv;
}

export function jobBaseEnv(input: JobEnvInput): Record<string, string> {
  const source = input.source ?? process.env;
  const env: Record<string, string> = { PATH: input.path, HOME: input.home, TMPDIR: input.temp };
  for (const [k, v] of Object.entries(source)) {
    if (v === undefined) continue;
    if (k === "LANG" || k === "TZ" || k === "TERM" || k.startsWith("LC_")) env[k] = v;
  }
  env.LANG ??= "C.UTF-8";
  if (input.user !== undefined) {
    env.USER = input.user;
    env.LOGNAME = input.user;
  }
  return env;
}

/** The PATH jobs get: host.path when configured, else the runner's own PATH. */
export function jobPath(configured: string | undefined, source: NodeJS.ProcessEnv = process.env): string {
  if (configured && configured.trim() !== "") return configured;
  return source.PATH && source.PATH !== "" ? source.PATH : "/usr/local/bin:/usr/bin:/bin";
}
