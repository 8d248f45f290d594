// Small value checks and path helpers shared by the loader and the
// connection resolver.

import { resolve } from "node:path";
import { homeDir, CODEBERG_MIN_FETCH_INTERVAL } from "./defaults.js";

export function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "";
  } catch {
    return false;
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Normalises the uuid forms Go's uuid.Parse accepts to lowercase 8-4-4-4-12; undefined when invalid. */
export function normalizeUuid(text: string): string | undefined {
  let s = text.trim().toLowerCase();
  if (s.startsWith("urn:uuid:")) s = s.slice(9);
  if (s.startsWith("{") && s.endsWith("}")) s = s.slice(1, -1);
  if (/^[0-9a-f]{32}$/.test(s)) s = `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
  return UUID_RE.test(s) ? s : undefined;
}

/** The fetch interval to use against `url`: at least 30 s for hosts ending in codeberg.org. */
export function minFetchIntervalFor(url: string, interval: number): number {
  let host = "";
  try {
    host = new URL(url).hostname;
  } catch {
    return interval;
  }
  return host.endsWith("codeberg.org") && interval < CODEBERG_MIN_FETCH_INTERVAL ? CODEBERG_MIN_FETCH_INTERVAL : interval;
}

/** `~`, `~/…`, `$HOME/…` and `${HOME}/…` at the start of a directory key. */
export function expandHome(p: string, env: NodeJS.ProcessEnv): string {
  if (p === "~") return homeDir(env);
  if (p.startsWith("~/")) return homeDir(env) + p.slice(1);
  return p.replace(/^\$HOME(?=\/|$)/, homeDir(env)).replace(/^\$\{HOME\}(?=\/|$)/, homeDir(env));
}

/** `file:relative/path` is taken relative to the working directory. */
export function rebaseFileUrl(u: string, cwd: string): string {
  if (u.startsWith("file:") && !u.startsWith("file:/") && !u.startsWith("file:$")) return `file:${resolve(cwd, u.slice(5))}`;
  return u;
}
