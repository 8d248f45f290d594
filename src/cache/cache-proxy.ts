import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { Agent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import type { CacheStore } from "./cache-store.js";
import { API_BASE, handleCacheApi } from "./cache-api.js";
import { closeServer, listen, splitUrl, urlHost } from "./http-server.js";
import { drain, sendError } from "./http-util.js";
import { computeMac } from "./mac.js";
import type { CacheLog } from "./log.js";

/** What the proxy knows about one running job. */
export interface ProxyRun {
  repo: string;
  /** forgejo-runner signs the Forgejo run id here (`Forgejo-Cache-RunNumber`). */
  runNumber: string;
  isolationKey: string;
  /** Expected bearer token; "" = not checked. */
  token: string;
  readOnly: boolean;
}

export type ProxyTarget = { kind: "internal"; store: CacheStore } | { kind: "external"; url: string };

/** What jobs did with the cache, for metrics. */
export type CacheActivity = { kind: "lookup"; hit: boolean } | { kind: "upload" | "download"; bytes: number };

export interface CacheProxyOptions {
  host: string;
  port: number;
  secret: string;
  target: ProxyTarget;
  /** Replaces `http://host:port` in the URLs handed to jobs. */
  urlOverride?: string;
  log?: CacheLog;
  onActivity?: (a: CacheActivity) => void;
}

const WRITE_DENIED = "cache write denied:";

// Request headers passed on to an external cache server.
const FORWARDED = ["content-type", "content-length", "content-range", "range", "accept", "user-agent"];
// Hop-by-hop response headers that must not be copied back.
const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer"]);

const digest = (s: string) => createHash("sha256").update(s).digest();

/**
 * The per-job front door. A job's `ACTIONS_CACHE_URL` is
 * `<proxy>/<run id>/`; the run id is 128 random bits and is forgotten when
 * the job ends. The proxy checks the job's bearer token, refuses writes of
 * read-only jobs, and passes the request on with the repository, run and
 * isolation key: to the in-process store, or signed to an external server.
 */
export class CacheProxy {
  private readonly runs = new Map<string, ProxyRun>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private constructor(
    private readonly opts: CacheProxyOptions,
    private readonly server: Server,
    readonly port: number,
    readonly externalUrl: string,
    private readonly log: CacheLog,
  ) {}

  static async start(opts: CacheProxyOptions): Promise<CacheProxy> {
    let self: CacheProxy | undefined;
    const { server, port } = await listen(opts.host, opts.port, (req, res) => self!.handle(req, res));
    const base = (opts.urlOverride || `http://${urlHost(opts.host)}:${port}`).replace(/\/+$/, "");
    self = new CacheProxy(opts, server, port, base, opts.log ?? (() => {}));
    return self;
  }

  /** Registers a job; returns its run id (the URL path segment). */
  addRun(run: ProxyRun): string {
    const id = randomBytes(16).toString("hex");
    this.runs.set(id, run);
    return id;
  }

  removeRun(id: string): boolean {
    return this.runs.delete(id);
  }

  get activeRuns(): number {
    return this.runs.size;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { path, query } = splitUrl(req.url);
    const m = /^\/([0-9a-f]{32})(\/_apis\/artifactcache\/.*)$/.exec(path);
    if (!m) {
      drain(req);
      return sendError(res, 404, `no such endpoint: ${req.method} ${path}`);
    }
    const runId = m[1]!;
    const apiPath = m[2]!;
    const run = this.runs.get(runId);
    if (!run) {
      drain(req);
      return sendError(res, 403, "unknown or finished job: this cache URL is no longer valid");
    }
    const sub = apiPath.slice(API_BASE.length);
    const method = req.method ?? "GET";
    // @actions/cache downloads archives without credentials; the run id in the path guards them.
    const isDownload = (method === "GET" || method === "HEAD") && sub.startsWith("/artifacts/");
    if (!isDownload && run.token !== "" && !this.tokenMatches(req, run.token)) {
      drain(req);
      this.log("warn", `cache proxy: bad or missing bearer token for ${run.repo} (${method} ${sub})`);
      return sendError(res, 401, "bad or missing runtime token");
    }
    const isWrite = (method === "POST" && (sub === "/caches" || sub.startsWith("/caches/"))) || method === "PATCH";
    this.watch(req, res, method, sub, isDownload);
    if (isWrite && run.readOnly) {
      drain(req);
      return sendError(res, 403, `${WRITE_DENIED} this job may only restore caches`);
    }
    if (this.opts.target.kind === "internal") {
      return handleCacheApi(this.opts.target.store, req, res, {
        repo: run.repo, runId, isolationKey: run.isolationKey, host: this.externalUrl,
      }, sub, query);
    }
    return this.forward(this.opts.target.url, req, res, run, runId, apiPath, query);
  }

  /** Reports lookups (hit or miss) and bytes moved once the answer is sent. */
  private watch(req: IncomingMessage, res: ServerResponse, method: string, sub: string, isDownload: boolean): void {
    const report = this.opts.onActivity;
    if (!report) return;
    let uploaded = 0;
    let downloaded = 0;
    if (method === "PATCH") req.on("data", (c: Buffer) => (uploaded += c.length));
    if (isDownload) {
      // Count the body as it is written (the archive is streamed, its headers are set by writeHead).
      const write = res.write.bind(res) as (...a: unknown[]) => boolean;
      res.write = ((chunk: unknown, ...rest: unknown[]) => {
        if (typeof chunk === "string") downloaded += Buffer.byteLength(chunk);
        else if (chunk instanceof Uint8Array) downloaded += chunk.length;
        return write(chunk, ...rest);
      }) as typeof res.write;
    }
    res.once("finish", () => {
      try {
        if (method === "GET" && sub === "/cache" && (res.statusCode === 200 || res.statusCode === 204)) {
          report({ kind: "lookup", hit: res.statusCode === 200 });
        } else if (method === "PATCH" && res.statusCode < 300) {
          report({ kind: "upload", bytes: uploaded });
        } else if (isDownload && method === "GET" && res.statusCode < 300) {
          report({ kind: "download", bytes: downloaded });
        }
      } catch {
        // metrics must not break the cache
      }
    });
  }

  private tokenMatches(req: IncomingMessage, token: string): boolean {
    const auth = req.headers.authorization ?? "";
    const m = /^Bearer (.+)$/i.exec(auth);
    if (!m) return false;
    return timingSafeEqual(digest(m[1]!), digest(token));
  }

  private async forward(
    target: string, req: IncomingMessage, res: ServerResponse, run: ProxyRun, runId: string, apiPath: string, query: string,
  ): Promise<void> {
    const url = new URL(target);
    const ts = String(Math.floor(Date.now() / 1000));
    const headers: OutgoingHttpHeaders = {};
    for (const name of FORWARDED) {
      const v = req.headers[name];
      if (v !== undefined) headers[name] = v;
    }
    if (req.headers["transfer-encoding"]) headers["transfer-encoding"] = req.headers["transfer-encoding"];
    Object.assign(headers, {
      "Forgejo-Cache-Repo": run.repo,
      "Forgejo-Cache-RunNumber": run.runNumber,
      "Forgejo-Cache-RunId": runId,
      "Forgejo-Cache-Timestamp": ts,
      "Forgejo-Cache-MAC": computeMac(this.opts.secret, run.repo, run.runNumber, ts, run.isolationKey),
      "Forgejo-Cache-Host": this.externalUrl,
    });
    if (run.isolationKey !== "") headers["Forgejo-Cache-WriteIsolationKey"] = run.isolationKey;
    const upstream = httpRequest({
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port,
      method: req.method,
      path: apiPath + (query ? `?${query}` : ""),
      headers,
      agent: this.agent,
    });
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      upstream.once("response", resolve);
      upstream.once("error", reject);
    });
    req.once("aborted", () => upstream.destroy());
    res.once("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    try {
      const sent = pipeline(req, upstream).catch((err: unknown) => err);
      const upRes = await response;
      void sent;
      res.writeHead(upRes.statusCode ?? 502, copyHeaders(upRes.headers));
      await pipeline(upRes, res);
    } catch (err) {
      this.log("warn", `cache proxy: upstream ${target} failed: ${(err as Error).message}`);
      if (!res.headersSent) sendError(res, 502, `cache server unreachable: ${(err as Error).message}`);
      else res.destroy();
    }
  }

  async close(): Promise<void> {
    this.runs.clear();
    await closeServer(this.server);
    this.agent.destroy();
  }
}

function copyHeaders(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP.has(k)) out[k] = v;
  return out;
}
