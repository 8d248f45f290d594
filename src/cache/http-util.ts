import type { IncomingMessage, ServerResponse } from "node:http";

/** An error that maps to an HTTP status and a `{"error": "..."}` body. */
export class CacheHttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "CacheHttpError";
  }
}

/**
 * JSON response. Errors carry both `error` (forgejo-runner's field) and
 * `message` (the field @actions/http-client surfaces in its exceptions).
 */
export function sendJson(res: ServerResponse, status: number, body?: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = status === 204 ? "" : JSON.stringify(body ?? {});
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: message, message });
}

export function sendCaught(res: ServerResponse, err: unknown): void {
  if (err instanceof CacheHttpError) sendError(res, err.status, err.message);
  else sendError(res, 500, `internal error: ${(err as Error)?.message ?? String(err)}`);
}

export interface ContentRange {
  start: number;
  end: number; // inclusive
  total?: number;
}

/** `bytes <start>-<end>/<total|*>`, the only form @actions/cache sends. */
export function parseContentRange(header: string | undefined): ContentRange {
  const m = /^bytes (\d{1,15})-(\d{1,15})\/(\*|\d{1,15})$/.exec((header ?? "").trim());
  if (!m) throw new CacheHttpError(400, `malformed Content-Range ${JSON.stringify(header ?? "")}: expected "bytes <start>-<end>/*"`);
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === "*" ? undefined : Number(m[3]);
  if (end < start) throw new CacheHttpError(400, `Content-Range end ${end} is before start ${start}`);
  if (total !== undefined && end >= total) throw new CacheHttpError(400, `Content-Range end ${end} is beyond total ${total}`);
  return { start, end, total };
}

/**
 * A single `Range: bytes=` request against a file of `size` bytes.
 * Returns undefined for "serve everything" (no header, or several ranges),
 * "unsatisfiable" when no byte can be served.
 */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined | "unsatisfiable" {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, a = "", b = ""] = m;
  if (a === "" && b === "") return undefined;
  if (a === "") {
    const n = Number(b);
    if (n === 0) return "unsatisfiable";
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === "" ? size - 1 : Math.min(Number(b), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}

/** Reads a small JSON body (bounded); an empty body yields `{}`. */
export async function readJsonBody(req: IncomingMessage, limit = 64 * 1024): Promise<Record<string, unknown>> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    n += b.length;
    if (n > limit) throw new CacheHttpError(413, `request body larger than ${limit} bytes`);
    parts.push(b);
  }
  const text = Buffer.concat(parts).toString("utf8").trim();
  if (text === "") return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new CacheHttpError(400, "request body is not valid JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new CacheHttpError(400, "request body must be a JSON object");
  return v as Record<string, unknown>;
}

/** Discards what is left of a request body so the connection can be reused. */
export function drain(req: IncomingMessage): void {
  if (!req.readableEnded) req.resume();
}
