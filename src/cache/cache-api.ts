import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import type { CacheStore } from "./cache-store.js";
import { CacheHttpError, drain, parseContentRange, parseRange, readJsonBody, sendCaught, sendError, sendJson } from "./http-util.js";

export const API_BASE = "/_apis/artifactcache";

/** Who is asking: established by the proxy (in process) or by a verified MAC (over HTTP). */
export interface RunContext {
  repo: string;
  /** Path segment of the proxy URL the job uses; part of archive locations. */
  runId: string;
  /** "" = writes the shared repository cache. */
  isolationKey: string;
  /** External base URL of the proxy, without trailing slash. */
  host: string;
}

const MAX_KEYS = 20;

/**
 * Serves one request of the v1 artifactcache API. `path` is the part after
 * `/_apis/artifactcache` (e.g. `/caches/12`), `query` the raw query string.
 */
export async function handleCacheApi(
  store: CacheStore, req: IncomingMessage, res: ServerResponse, run: RunContext, path: string, query: string,
): Promise<void> {
  try {
    const method = req.method ?? "GET";
    let m: RegExpExecArray | null;
    if (path === "/cache") {
      if (method !== "GET") throw new CacheHttpError(405, `${method} not allowed on ${API_BASE}${path}`);
      drain(req);
      return find(store, res, run, new URLSearchParams(query));
    }
    if (path === "/caches") {
      if (method !== "POST") throw new CacheHttpError(method === "GET" ? 404 : 405, `${method} not supported on ${API_BASE}${path}`);
      const body = await readJsonBody(req);
      const e = await store.reserve(run.repo, body.key, body.version, body.cacheSize, run.isolationKey);
      return sendJson(res, 200, { cacheId: e.id });
    }
    if ((m = /^\/caches\/([^/]*)$/.exec(path))) {
      const id = parseId(m[1]!);
      if (method === "PATCH") {
        const entry = store.forWrite(id, run.repo, run.isolationKey);
        const range = parseContentRange(header(req, "content-range"));
        const cl = header(req, "content-length");
        await store.writeChunk(entry, range, req, cl === undefined ? undefined : Number(cl));
        return sendJson(res, 200, {});
      }
      if (method === "POST") {
        const body = await readJsonBody(req);
        const entry = store.forWrite(id, run.repo, run.isolationKey);
        await store.commit(entry, body.size);
        return sendJson(res, 200, {});
      }
      throw new CacheHttpError(405, `${method} not allowed on ${API_BASE}/caches/:id`);
    }
    if ((m = /^\/artifacts\/([^/]*)$/.exec(path))) {
      if (method !== "GET" && method !== "HEAD") throw new CacheHttpError(405, `${method} not allowed on ${API_BASE}/artifacts/:id`);
      drain(req);
      return await download(store, req, res, run, parseId(m[1]!));
    }
    if (path === "/clean") {
      if (method !== "POST") throw new CacheHttpError(405, `${method} not allowed on ${API_BASE}${path}`);
      drain(req);
      return sendJson(res, 200, {});
    }
    throw new CacheHttpError(404, `no such endpoint: ${method} ${API_BASE}${path}`);
  } catch (err) {
    drain(req);
    if (!(err instanceof CacheHttpError) || err.status >= 500) store.reportError(`${req.method} ${API_BASE}${path}`, err);
    sendCaught(res, err);
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function parseId(raw: string): number {
  if (!/^[1-9]\d{0,14}$/.test(raw)) throw new CacheHttpError(400, `invalid cache id ${JSON.stringify(decodeSafe(raw))}`);
  return Number(raw);
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function find(store: CacheStore, res: ServerResponse, run: RunContext, q: URLSearchParams): void {
  const keys = (q.get("keys") ?? "").split(",").map((k) => k.trim()).filter((k) => k !== "");
  if (keys.length === 0) throw new CacheHttpError(400, "keys is required");
  if (keys.length > MAX_KEYS) throw new CacheHttpError(400, `at most ${MAX_KEYS} keys`);
  const version = q.get("version") ?? "";
  const e = store.find(run.repo, keys, version, run.isolationKey);
  if (!e) return sendJson(res, 204);
  sendJson(res, 200, {
    result: "hit",
    archiveLocation: `${run.host}/${run.runId}${API_BASE}/artifacts/${e.id}`,
    cacheKey: e.key,
  });
}

async function download(store: CacheStore, req: IncomingMessage, res: ServerResponse, run: RunContext, id: number): Promise<void> {
  const { entry, fh } = await store.openForRead(id, run.repo, run.isolationKey);
  try {
    const size = entry.size;
    const range = parseRange(header(req, "range"), size);
    if (range === "unsatisfiable") {
      res.setHeader("Content-Range", `bytes */${size}`);
      await fh.close();
      return sendError(res, 416, `range ${header(req, "range")} not satisfiable for ${size} bytes`);
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    const headers: Record<string, string | number> = {
      "Content-Type": "application/octet-stream",
      "Content-Length": end - start + 1,
      "Accept-Ranges": "bytes",
    };
    if (range) headers["Content-Range"] = `bytes ${start}-${end}/${size}`;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === "HEAD" || size === 0) {
      await fh.close();
      res.end();
      return;
    }
    const stream = fh.createReadStream({ start, end, highWaterMark: 256 << 10, autoClose: true });
    await pipeline(stream, res);
  } catch (err) {
    await fh.close().catch(() => {});
    if (res.headersSent) res.destroy();
    else throw err;
  }
}
