/** The control API over HTTP: JSON endpoints under /_emulator/ mirroring the TypeScript API. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Emulator } from "./index.js";
import type { EnqueueOptions, EnqueueRunOptions, FaultRule } from "./types.js";

export const CONTROL_PREFIX = "/_emulator/";

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (text === "") return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("not an object");
    return v as Record<string, unknown>;
  } catch (err) {
    throw new HttpError(400, `invalid JSON body: ${(err as Error).message}`);
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body ?? null);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(text)) });
  res.end(text);
}

function found<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new HttpError(404, `${what} not found`);
  return v;
}

export async function handleControl(req: IncomingMessage, res: ServerResponse, emu: Emulator): Promise<void> {
  const url = new URL(req.url ?? "/", "http://localhost");
  const parts = url.pathname.slice(CONTROL_PREFIX.length).split("/").filter(Boolean);
  const route = `${req.method} ${parts.map((p) => (/^\d+$/.test(p) ? ":id" : p)).join("/")}`;
  const id = Number(parts.find((p) => /^\d+$/.test(p)));
  try {
    switch (route) {
      case "POST registration-tokens": {
        const b = await readJson(req);
        return reply(res, 200, { token: emu.createRegistrationToken({ owner: b.owner as string, repo: b.repo as string }) });
      }
      case "POST runners": {
        const b = await readJson(req);
        const runner = emu.preRegisterRunner(String(b.secret), String(b.name), (b.labels as string[]) ?? [], {
          owner: b.owner as string,
          repo: b.repo as string,
        });
        return reply(res, 200, runner);
      }
      case "GET runners":
        return reply(res, 200, emu.runners());
      case "POST jobs":
        return reply(res, 200, emu.enqueue((await readJson(req)) as unknown as EnqueueOptions));
      case "POST runs":
        return reply(res, 200, emu.enqueueRun((await readJson(req)) as unknown as EnqueueRunOptions));
      case "GET runs/:id/wait": {
        const timeout = Number(url.searchParams.get("timeoutMs") ?? 30000);
        try {
          return reply(res, 200, await emu.waitForRunDone(id, timeout));
        } catch (err) {
          throw new HttpError(408, (err as Error).message);
        }
      }
      case "GET jobs":
        return reply(res, 200, emu.jobs());
      case "GET jobs/:id":
        return reply(res, 200, found(emu.job(id), `job ${id}`));
      case "POST jobs/:id/cancel":
        emu.cancel(id);
        return reply(res, 200, found(emu.job(id), `job ${id}`));
      case "POST jobs/:id/rerun":
        emu.rerun(id);
        return reply(res, 200, found(emu.job(id), `job ${id}`));
      case "GET jobs/:id/wait": {
        const timeout = Number(url.searchParams.get("timeoutMs") ?? 30000);
        try {
          return reply(res, 200, await emu.waitForJobDone(id, timeout));
        } catch (err) {
          throw new HttpError(408, (err as Error).message);
        }
      }
      case "GET tasks/:id":
        return reply(res, 200, found(emu.task(id), `task ${id}`));
      case "POST tasks/:id/zombie":
        emu.zombie(id);
        return reply(res, 200, found(emu.task(id), `task ${id}`));
      case "POST task-tokens/check": {
        const b = await readJson(req);
        return reply(res, 200, { valid: emu.isTaskTokenValid(String(b.token)) });
      }
      case "GET faults":
        return reply(res, 200, emu.faults.list());
      case "POST faults":
        emu.faults.add((await readJson(req)) as unknown as FaultRule);
        return reply(res, 200, emu.faults.list());
      case "DELETE faults":
        emu.faults.clear();
        return reply(res, 200, []);
      case "GET snapshot":
        return reply(res, 200, emu.snapshot());
      case "GET requests":
        return reply(res, 200, emu.requests());
      case "GET tasks-version":
        return reply(res, 200, {
          version: emu.tasksVersion({
            owner: url.searchParams.get("owner") ?? undefined,
            repo: url.searchParams.get("repo") ?? undefined,
          }),
        });
      default:
        throw new HttpError(404, `no control route ${route}`);
    }
  } catch (err) {
    const status = err instanceof HttpError ? err.status : 400;
    reply(res, status, { error: (err as Error).message });
  }
}
