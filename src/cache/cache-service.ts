import { randomBytes } from "node:crypto";
import { CacheStore, type ExpiryRules } from "./cache-store.js";
import { CacheProxy, type CacheActivity } from "./cache-proxy.js";
import { startCacheServer, type CacheServer } from "./cache-server.js";
import { jobCacheScope, type JobCacheScope } from "./scope.js";
import type { CacheLog } from "./log.js";

export interface CacheServiceOptions {
  /** `cache.dir`; unused with an external server. */
  dir: string;
  /** Address the proxy listens on and advertises (`cache.host`); default use 127.0.0.1. */
  host: string;
  /**
   * `cache.port`: when > 0, the internal store is also served over HTTP with
   * MAC checks, so other runners sharing the secret can use it. The proxy
   * itself talks to the internal store in process.
   */
  port: number;
  /** `cache.proxy_port`; 0 = any free port. */
  proxyPort: number;
  /** `cache.secret`; may be "" for the internal server (a random one is made). */
  secret: string;
  /** `cache.max_size` in bytes. */
  maxSize: number;
  /** `cache.mac_max_age` in ms; 0 = unbounded. */
  macMaxAge: number;
  /** `cache.external_server`: a `cache-server` (ours or forgejo-runner's) sharing `secret`. */
  externalServer?: string;
  /** `cache.actions_cache_url_override`: base URL handed to jobs instead of the proxy's. */
  urlOverride?: string;
  log?: CacheLog;
  expiry?: Partial<ExpiryRules>;
  /** Lookups and bytes moved by jobs (metrics). */
  onActivity?: (a: CacheActivity) => void;
}

export interface CacheJob {
  repository: string;
  /** The job's `ACTIONS_RUNTIME_TOKEN`; the proxy requires it as bearer ("" = not checked). */
  runtimeToken: string;
  eventName: string;
  event: Record<string, unknown>;
  /** `github.ref`, e.g. `refs/pull/7/head`. */
  ref: string;
  /** Per-connection read-only cache. */
  readOnly?: boolean;
  /** Forgejo run id (`github.run_id`), signed as forgejo-runner does. */
  runId?: string | number;
}

export interface CacheJobHandle {
  /** Add to the job's environment: ACTIONS_CACHE_URL, ACTIONS_CACHE_MODE, ACTIONS_CACHE_SERVICE_V2. */
  env: Record<string, string>;
  scope: JobCacheScope;
  /** Invalidates the job's cache URL. Idempotent. */
  release(): void;
  [Symbol.dispose](): void;
}

export interface CacheService {
  /** Base URL of the proxy, without trailing slash. */
  readonly url: string;
  readonly proxyPort: number;
  /** The internal store (undefined with an external server). */
  readonly store: CacheStore | undefined;
  /** Internal server URL when `port` > 0. */
  readonly serverUrl: string | undefined;
  registerJob(job: CacheJob): CacheJobHandle;
  /** For status and metrics; store figures only with the internal store. */
  stats(): { activeJobs: number; entries?: number; bytes?: number; uploads?: number };
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startCacheService(opts: CacheServiceOptions): Promise<CacheService> {
  const log = opts.log ?? (() => {});
  const host = opts.host || "127.0.0.1";
  let store: CacheStore | undefined;
  let server: CacheServer | undefined;
  let secret = opts.secret;
  if (opts.externalServer) {
    if (!secret) throw new Error("cache.external_server needs cache.secret, shared with that server");
  } else {
    if (!secret) secret = randomBytes(32).toString("hex");
    if (opts.port > 0) {
      server = await startCacheServer({
        dir: opts.dir, host, port: opts.port, secret, maxSize: opts.maxSize, macMaxAge: opts.macMaxAge, log,
        ...(opts.expiry ? { expiry: opts.expiry } : {}),
      });
      store = server.store;
    } else {
      store = new CacheStore({ dir: opts.dir, maxSize: opts.maxSize, log, ...(opts.expiry ? { expiry: opts.expiry } : {}) });
    }
  }
  let proxy: CacheProxy;
  try {
    proxy = await CacheProxy.start({
      host, port: opts.proxyPort, secret, log,
      target: store ? { kind: "internal", store } : { kind: "external", url: opts.externalServer! },
      ...(opts.urlOverride ? { urlOverride: opts.urlOverride } : {}),
      ...(opts.onActivity ? { onActivity: opts.onActivity } : {}),
    });
  } catch (err) {
    if (server) await server.close();
    else await store?.close();
    throw err;
  }
  log("info", `cache proxy listening on ${proxy.externalUrl}${opts.externalServer ? ` → ${opts.externalServer}` : ""}`);

  let closing: Promise<void> | undefined;
  const close = () => (closing ??= (async () => {
    await proxy.close();
    if (server) await server.close();
    else await store?.close();
  })());

  return {
    url: proxy.externalUrl,
    proxyPort: proxy.port,
    store,
    serverUrl: server?.url,
    registerJob(job: CacheJob): CacheJobHandle {
      const scope = jobCacheScope({
        repository: job.repository, eventName: job.eventName, event: job.event, ref: job.ref,
        ...(job.readOnly !== undefined ? { readOnly: job.readOnly } : {}),
      });
      const id = proxy.addRun({
        repo: job.repository,
        runNumber: job.runId === undefined ? "" : String(job.runId),
        isolationKey: scope.isolationKey,
        token: job.runtimeToken,
        readOnly: scope.readOnly,
      });
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        proxy.removeRun(id);
      };
      if (scope.reason) log("info", `cache for ${job.repository}: ${scope.reason}`);
      return {
        env: {
          ACTIONS_CACHE_URL: `${proxy.externalUrl}/${id}/`,
          ACTIONS_CACHE_MODE: scope.readOnly ? "read" : "write",
          // Empty = false: @actions/cache stays on the v1 protocol served here.
          ACTIONS_CACHE_SERVICE_V2: "",
        },
        scope,
        release,
        [Symbol.dispose]: release,
      };
    },
    stats() {
      return { activeJobs: proxy.activeRuns, ...(store ? store.stats() : {}) };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
