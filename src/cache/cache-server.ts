import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { CacheStore, type ExpiryRules } from "./cache-store.js";
import { API_BASE, handleCacheApi } from "./cache-api.js";
import { closeServer, listen, splitUrl, urlHost } from "./http-server.js";
import { drain, sendError } from "./http-util.js";
import { verifyMac } from "./mac.js";
import type { CacheLog } from "./log.js";

export interface CacheServerOptions {
  dir: string;
  host: string;
  port: number;
  secret: string;
  maxSize: number;
  /** Max age of the proxy's MAC timestamp in ms; 0 = unbounded. */
  macMaxAge: number;
  expiry?: Partial<ExpiryRules>;
  log?: CacheLog;
}

export interface CacheServer {
  /** `http://host:port`, no trailing slash. */
  readonly url: string;
  readonly port: number;
  readonly store: CacheStore;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const h = (req: IncomingMessage, name: string): string => {
  const v = req.headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? "";
};

/**
 * The cache server as forgejo-runner's `cache-server`: requests come from a
 * proxy that names the repository, run and isolation key in
 * `Forgejo-Cache-*` headers and signs them with the shared secret.
 */
export async function startCacheServer(opts: CacheServerOptions): Promise<CacheServer> {
  if (!opts.secret) throw new Error("the cache server needs a secret shared with its proxies");
  const log = opts.log ?? (() => {});
  const store = new CacheStore({ dir: opts.dir, maxSize: opts.maxSize, log, ...(opts.expiry ? { expiry: opts.expiry } : {}) });
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const { path, query } = splitUrl(req.url);
    if (!path.startsWith(`${API_BASE}/`)) {
      drain(req);
      return sendError(res, 404, `no such endpoint: ${req.method} ${path}`);
    }
    const fields = {
      repo: h(req, "forgejo-cache-repo"),
      runNumber: h(req, "forgejo-cache-runnumber"),
      timestamp: h(req, "forgejo-cache-timestamp"),
      mac: h(req, "forgejo-cache-mac"),
      isolationKey: h(req, "forgejo-cache-writeisolationkey"),
    };
    const check = verifyMac(opts.secret, fields, opts.macMaxAge);
    if (!check.ok) {
      drain(req);
      log("warn", `cache request refused: ${check.reason} (${req.method} ${path})`);
      return sendError(res, 403, `validation error: ${check.reason}`);
    }
    const runId = h(req, "forgejo-cache-runid");
    if (!/^\w{1,128}$/.test(runId)) {
      drain(req);
      return sendError(res, 400, "missing or malformed Forgejo-Cache-RunId");
    }
    await handleCacheApi(store, req, res, {
      repo: fields.repo,
      runId,
      isolationKey: fields.isolationKey,
      host: h(req, "forgejo-cache-host").replace(/\/+$/, ""),
    }, path.slice(API_BASE.length), query);
  };
  let server: Server;
  let port: number;
  try {
    ({ server, port } = await listen(opts.host, opts.port, handler));
  } catch (err) {
    await store.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= (async () => {
    await closeServer(server);
    await store.close();
  })());
  return {
    url: `http://${urlHost(opts.host)}:${port}`,
    port,
    store,
    close,
    [Symbol.asyncDispose]: close,
  };
}
