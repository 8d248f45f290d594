import { createServer, type Server } from "node:http";
import type { RunnerMetrics } from "./metrics.js";

export interface ObservabilityServer {
  url: string;
  close(): Promise<void>;
}

/** Serves `/metrics` (Prometheus) and `/healthz` (200 ok / 503 reason). */
export async function startObservabilityServer(
  addr: string,
  metrics: RunnerMetrics,
  health: () => { ok: boolean; reason?: string },
): Promise<ObservabilityServer> {
  const { host, port } = parseAddr(addr);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET") {
      res.writeHead(405).end();
      return;
    }
    if (path === "/metrics") {
      metrics.registry.metrics().then(
        (body) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(body),
        (err: Error) => res.writeHead(500).end(err.message),
      );
      return;
    }
    if (path === "/healthz") {
      const h = health();
      res.writeHead(h.ok ? 200 : 503, { "content-type": "text/plain" }).end(h.ok ? "ok\n" : `${h.reason ?? "unhealthy"}\n`);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address();
  const realPort = typeof a === "object" && a ? a.port : port;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${realPort}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export function parseAddr(addr: string): { host: string; port: number } {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(addr.trim());
  if (!m) throw new Error(`metrics.addr: "${addr}" is not host:port`);
  return { host: m[1] || "127.0.0.1", port: Number(m[2]) };
}
