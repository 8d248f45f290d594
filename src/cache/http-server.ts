import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** An HTTP server on host:port (0 = any free port) with timeouts suited to large chunked uploads. */
export async function listen(host: string, port: number, handler: RequestHandler): Promise<{ server: Server; port: number }> {
  const server = createServer({ requestTimeout: 0, headersTimeout: 10_000, keepAliveTimeout: 5_000 }, (req, res) => {
    handler(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { "Content-Type": "application/json; charset=utf-8" });
        res.end(JSON.stringify({ error: String((err as Error)?.message ?? err) }));
      } else {
        res.destroy();
      }
    });
  });
  // An idle connection (no bytes either way) is dropped after two minutes.
  server.setTimeout(120_000, (socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}

export async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Splits a raw request URL into path and query without normalising `..` segments. */
export function splitUrl(url: string | undefined): { path: string; query: string } {
  const u = url ?? "/";
  const i = u.indexOf("?");
  return i < 0 ? { path: u, query: "" } : { path: u.slice(0, i), query: u.slice(i + 1) };
}

export function urlHost(host: string): string {
  if (host === "" || host === "0.0.0.0" || host === "::") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}
