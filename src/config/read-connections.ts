// forgejo-runner v13's `server.connections`: named connections with a url,
// a uuid and a token (inline or from a `file:` URL), plus native-runner's
// per-connection trust and cache settings. Defaults come from `runner`.

import { isHttpUrl, minFetchIntervalFor, normalizeUuid, rebaseFileUrl } from "./checks.js";
import { labelList, repoPatterns } from "./read-fields.js";
import { resolveSecretUrl } from "./secret-url.js";
import type { Section } from "./yaml-reader.js";
import type { ConnectionConfig, RunnerConfig } from "./types.js";

export function readConnections(server: Section, cfg: RunnerConfig, env: NodeJS.ProcessEnv, cwd: string): ConnectionConfig[] {
  const raw = server.raw("connections");
  if (raw === undefined) return [];
  if (typeof raw !== "object" || Array.isArray(raw)) {
    server.problem("connections", raw, "is not a mapping", "a mapping of connection names to {url, uuid, token | token_url, ...}");
    return [];
  }
  const conns = server.section("connections");
  const out: ConnectionConfig[] = [];
  for (const name of Object.keys(raw as Record<string, unknown>)) {
    const conn = readConnection(conns.section(name), name, cfg, env, cwd);
    if (conn) out.push(conn);
  }
  conns.finish();
  return out;
}

function readConnection(c: Section, name: string, cfg: RunnerConfig, env: NodeJS.ProcessEnv, cwd: string): ConnectionConfig | undefined {
  let ok = true;
  const fail = (key: string, value: unknown, issue: string, expected: string): void => {
    ok = false;
    c.problem(key, value, issue, expected);
  };
  const url = c.str("url") ?? "";
  if (url === "") fail("url", url, "is empty", "the Forgejo URL, e.g. https://forgejo.example/");
  else if (!isHttpUrl(url)) fail("url", url, "is not an http(s) URL", "a URL with scheme http or https");

  const uuidText = c.str("uuid") ?? "";
  const uuid = normalizeUuid(uuidText);
  if (uuidText === "") fail("uuid", uuidText, "is empty", "the runner uuid");
  else if (!uuid) fail("uuid", uuidText, "is not a uuid", "a uuid such as 8b0f3c9e-0b64-4a39-9f16-3cfd3a4e2a10");

  const token = c.str("token") ?? "";
  const tokenUrl = c.str("token_url") ?? "";
  let resolvedToken = token;
  if (token === "" && tokenUrl === "") fail("token", token, "is empty and token_url is not set", "token or token_url");
  else if (token !== "" && tokenUrl !== "") fail("token_url", tokenUrl, "is set together with token", "only one of token and token_url");
  else if (tokenUrl !== "") {
    try {
      resolvedToken = resolveSecretUrl(rebaseFileUrl(tokenUrl, cwd), env);
      if (resolvedToken === "") fail("token_url", tokenUrl, "points to an empty file", "a file holding the runner token");
    } catch (err) {
      fail("token_url", tokenUrl, `cannot be used: ${(err as Error).message}`, "file:<path> of a readable file");
    }
  }

  const labels = labelList(c, "labels");
  const fetchInterval = c.duration("fetch_interval");
  if (fetchInterval !== undefined && fetchInterval < 0) c.warn("fetch_interval", "negative value ignored");
  const trustedRepos = repoPatterns(c, "trusted_repos");
  const trustedEvents = c.strList("trusted_events");
  const cacheMode = c.oneOf("cache_mode", ["readwrite", "read"] as const, { "read-write": "readwrite", readonly: "read", "read-only": "read" });
  c.finish();
  if (!ok || !uuid) return undefined;

  const interval = fetchInterval !== undefined && fetchInterval > 0 ? fetchInterval : cfg.runner.fetch_interval;
  return {
    name,
    url,
    uuid,
    token: resolvedToken,
    labels: labels && labels.length > 0 ? labels : [...cfg.runner.labels],
    fetch_interval: minFetchIntervalFor(url, interval),
    trusted_repos: trustedRepos ?? [...cfg.runner.trusted_repos],
    trusted_events: trustedEvents ?? [...cfg.runner.trusted_events],
    cache_mode: cacheMode ?? "readwrite",
  };
}
