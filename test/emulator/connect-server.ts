/**
 * Connect unary protocol over node:http, as Forgejo's connect-go handlers answer it:
 * POST only, proto and JSON codecs, gzip both ways, errors always as JSON, plain 404 for
 * unknown paths. Fault injection happens here, around the real processing.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { promisify } from "node:util";
import { gunzip, gzip } from "node:zlib";
import { type DescMessage, type Message, create, fromBinary, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import { PingRequestSchema, PingResponseSchema } from "../../src/protocol/gen/ping/v1/messages_pb.js";
import {
  DeclareRequestSchema,
  DeclareResponseSchema,
  FetchSingleTaskRequestSchema,
  FetchSingleTaskResponseSchema,
  FetchTaskRequestSchema,
  FetchTaskResponseSchema,
  RegisterRequestSchema,
  RegisterResponseSchema,
  UpdateLogRequestSchema,
  UpdateLogResponseSchema,
  UpdateTaskRequestSchema,
  UpdateTaskResponseSchema,
} from "../../src/protocol/gen/runner/v1/messages_pb.js";
import type { FaultSet } from "./faults.js";
import type { ServerFeatures } from "./types.js";
import { type EmulatorState, RpcError, type RpcCode } from "./state.js";

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export const API_PREFIX = "/api/actions/";

interface Method {
  input: DescMessage;
  output: DescMessage;
  auth: boolean;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  handle(state: EmulatorState, msg: any, ctx: CallContext): unknown;
}

interface CallContext {
  runner: ReturnType<EmulatorState["authenticate"]> | undefined;
  requestKey: string;
  taskCapacity: boolean;
}

const METHODS: Record<string, Method> = {
  "ping.v1.PingService/Ping": {
    input: PingRequestSchema,
    output: PingResponseSchema,
    auth: false,
    handle: (_s, msg: { data: string }) => ({ data: `Hello, ${msg.data}!` }),
  },
  "runner.v1.RunnerService/Register": {
    input: RegisterRequestSchema,
    output: RegisterResponseSchema,
    auth: false,
    handle: (s, msg) => ({ runner: s.register(msg) }),
  },
  "runner.v1.RunnerService/Declare": {
    input: DeclareRequestSchema,
    output: DeclareResponseSchema,
    auth: true,
    handle: (s, msg, ctx) => ({ runner: s.declare(ctx.runner!, msg) }),
  },
  "runner.v1.RunnerService/FetchTask": {
    input: FetchTaskRequestSchema,
    output: FetchTaskResponseSchema,
    auth: true,
    handle: (s, msg: { tasksVersion: bigint; taskCapacity?: bigint }, ctx) =>
      s.fetchResponse(
        s.fetch(ctx.runner!, {
          tasksVersion: msg.tasksVersion,
          capacity: msg.taskCapacity === undefined || !ctx.taskCapacity ? 1 : Number(msg.taskCapacity),
          requestKey: ctx.requestKey,
          single: false,
        }),
      ),
  },
  "runner.v1.RunnerService/FetchSingleTask": {
    input: FetchSingleTaskRequestSchema,
    output: FetchSingleTaskResponseSchema,
    auth: true,
    handle: (s, msg: { tasksVersion: bigint; handle?: string }, ctx) => {
      const r = s.fetch(ctx.runner!, {
        tasksVersion: msg.tasksVersion,
        capacity: 1,
        requestKey: ctx.requestKey,
        handle: msg.handle,
        single: true,
      });
      return { task: r.tasks[0], tasksVersion: r.tasksVersion };
    },
  },
  "runner.v1.RunnerService/UpdateTask": {
    input: UpdateTaskRequestSchema,
    output: UpdateTaskResponseSchema,
    auth: true,
    handle: (s, msg, ctx) => s.updateTask(ctx.runner!, msg),
  },
  "runner.v1.RunnerService/UpdateLog": {
    input: UpdateLogRequestSchema,
    output: UpdateLogResponseSchema,
    auth: true,
    handle: (s, msg, ctx) => ({ ackIndex: s.updateLog(ctx.runner!, msg) }),
  },
};

const HTTP_STATUS: Record<RpcCode | "unknown", number> = {
  invalid_argument: 400,
  unauthenticated: 401,
  not_found: 404,
  already_exists: 409,
  internal: 500,
  unknown: 500,
  unimplemented: 501,
};

/** HTTP statuses of the Connect codes an `error` fault can answer (the Connect protocol's mapping). */
const FAULT_HTTP_STATUS: Record<string, number> = {
  canceled: 499, unknown: 500, invalid_argument: 400, deadline_exceeded: 504, not_found: 404, already_exists: 409,
  permission_denied: 403, resource_exhausted: 429, failed_precondition: 400, aborted: 409, out_of_range: 400,
  unimplemented: 501, internal: 500, unavailable: 503, data_loss: 500, unauthenticated: 401,
};

const GRPC_NAMES: Record<RpcCode, string> = {
  invalid_argument: "InvalidArgument",
  unauthenticated: "Unauthenticated",
  not_found: "NotFound",
  already_exists: "AlreadyExists",
  internal: "Internal",
  unimplemented: "Unimplemented",
};

export interface RequestRecord {
  rpc: string;
  time: number;
  status: number;
  contentType: string;
  runnerUuid?: string;
  requestKey?: string;
  acceptEncoding?: string;
  fault?: string;
  /** FetchTask/FetchSingleTask: ids of the tasks in the answer. */
  taskIds?: number[];
}

export interface ConnectServerOptions {
  state: EmulatorState;
  features: Required<ServerFeatures>;
  faults: FaultSet;
  legacyErrors: boolean;
  compressMinBytes: number;
  /** Called for every RPC request received (after the fault decision). */
  record: (r: RequestRecord) => void;
}

function header(req: IncomingMessage, name: string): string {
  const v = req.headers[name];
  return Array.isArray(v) ? (v[0] ?? "") : (v ?? "");
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" });
  res.end("404 page not found\n");
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Handles a request whose path starts with /api/actions/. */
export async function handleConnect(req: IncomingMessage, res: ServerResponse, opts: ConnectServerOptions): Promise<void> {
  const path = (req.url ?? "").split("?")[0]!.slice(API_PREFIX.length);
  const method = METHODS[path];
  if (!method || (path.endsWith("/FetchSingleTask") && !opts.features.fetchSingleTask)) return notFound(res);
  if (req.method !== "POST") {
    res.writeHead(405, { Allow: "POST", "Content-Type": "text/plain; charset=utf-8" });
    res.end("Method Not Allowed\n");
    return;
  }
  const raw = await readBody(req);
  const record: RequestRecord = {
    rpc: path,
    time: Date.now(),
    status: 0,
    contentType: header(req, "content-type"),
    runnerUuid: header(req, "x-runner-uuid") || undefined,
    requestKey: header(req, "x-runner-request-key") || undefined,
    acceptEncoding: header(req, "accept-encoding") || undefined,
  };

  const fault = opts.faults.match(path);
  if (fault) record.fault = fault.kind;
  if (fault?.kind === "drop") {
    opts.record(record);
    req.socket.destroy();
    return;
  }
  if (fault?.kind === "reset") {
    opts.record(record);
    req.socket.resetAndDestroy();
    return;
  }
  if (fault?.kind === "http5xx") {
    record.status = fault.status ?? 503;
    opts.record(record);
    res.writeHead(record.status, { "Content-Type": "text/plain; charset=utf-8" });
    res.end(`${record.status} Service Unavailable\n`);
    return;
  }
  if (fault?.kind === "error") {
    const code = fault.code ?? "internal";
    record.status = fault.status ?? FAULT_HTTP_STATUS[code] ?? 500;
    opts.record(record);
    const body = Buffer.from(JSON.stringify({ code, message: fault.message ?? "injected" }));
    res.writeHead(record.status, { "Content-Type": "application/json", "Content-Length": String(body.length) });
    res.end(body);
    return;
  }
  if (fault?.kind === "latency") await sleep(fault.latencyMs ?? 1000);
  if (fault?.kind === "oversize") {
    record.status = 200;
    opts.record(record);
    await sendOversize(req, res, fault.bytes ?? 300 * 1024 * 1024);
    return;
  }

  const send = (status: number, headers: Record<string, string>, body: Buffer) => {
    record.status = status;
    opts.record(record);
    if (fault?.kind === "drop-response") {
      req.socket.destroy();
      return;
    }
    res.writeHead(status, { ...headers, "Content-Length": String(body.length) });
    res.end(body);
  };
  const sendError = (code: RpcCode, message: string) => {
    const body = opts.legacyErrors
      ? { code: "unknown", message: `rpc error: code = ${GRPC_NAMES[code]} desc = ${message}` }
      : { code, message };
    send(opts.legacyErrors ? 500 : HTTP_STATUS[code], { "Content-Type": "application/json" }, Buffer.from(JSON.stringify(body)));
  };

  const contentType = record.contentType.toLowerCase().replace(/\s+/g, "");
  const codec =
    contentType === "application/proto" ? "proto"
    : contentType === "application/json" || contentType === "application/json;charset=utf-8" ? "json"
    : undefined;
  if (!codec) {
    record.status = 415;
    opts.record(record);
    res.writeHead(415, { "Accept-Post": "application/json, application/json; charset=utf-8, application/proto" });
    res.end();
    return;
  }

  let body = raw;
  const encoding = header(req, "content-encoding").toLowerCase();
  if (encoding === "gzip") {
    try {
      body = await gunzipAsync(raw);
    } catch (err) {
      return sendError("invalid_argument", `decompress message: ${(err as Error).message}`);
    }
  } else if (encoding !== "" && encoding !== "identity") {
    return sendError("unimplemented", `unknown compression "${encoding}": supported encodings are gzip`);
  }

  let input: Message;
  try {
    if (codec === "proto") {
      input = fromBinary(method.input, body);
    } else {
      if (body.length === 0) throw new Error("zero-length payload is not a valid JSON object");
      input = fromJson(method.input, JSON.parse(body.toString("utf8")), { ignoreUnknownFields: true });
    }
  } catch (err) {
    return sendError("invalid_argument", `unmarshal into ${method.input.typeName}: ${(err as Error).message}`);
  }

  let output: unknown;
  try {
    const ctx: CallContext = {
      runner: undefined,
      requestKey: opts.features.requestKey ? header(req, "x-runner-request-key") : "",
      taskCapacity: opts.features.taskCapacity,
    };
    if (method.auth) {
      ctx.runner = opts.state.authenticate(
        header(req, "x-runner-uuid"),
        header(req, "x-runner-token"),
        path.slice(path.lastIndexOf("/") + 1),
      );
    }
    if (path.endsWith("/Declare") && !opts.features.declare) {
      throw new RpcError("unimplemented", "runner.v1.RunnerService.Declare is not implemented");
    }
    output = method.handle(opts.state, input, ctx);
  } catch (err) {
    if (err instanceof RpcError) return sendError(err.code, err.message);
    return sendError("internal", (err as Error).message);
  }

  const msg = create(method.output, output as never);
  const fetched = output as { task?: { id: bigint }; additionalTasks?: { id: bigint }[] };
  if (path.includes("/Fetch")) {
    record.taskIds = [fetched.task, ...(fetched.additionalTasks ?? [])].filter((t) => t !== undefined).map((t) => Number(t.id));
  }
  let out =
    codec === "proto"
      ? Buffer.from(toBinary(method.output, msg))
      : Buffer.from(JSON.stringify(toJson(method.output, msg)));
  // connect-go answers in the codec (and charset spelling) the request used.
  const jsonType = contentType.includes("charset") ? "application/json; charset=utf-8" : "application/json";
  const headers: Record<string, string> = { "Content-Type": codec === "proto" ? "application/proto" : jsonType };
  const accepts = header(req, "accept-encoding").split(",").map((s) => s.trim().split(";")[0]);
  if (accepts.includes("gzip") && out.length >= opts.compressMinBytes) {
    out = await gzipAsync(out);
    headers["Content-Encoding"] = "gzip";
  }
  send(200, headers, out);
}

/**
 * A well-formed 200 answer, not processed, whose task carries a payload of
 * `size` bytes, streamed in 1 MiB chunks (the emulator never holds it whole).
 */
async function sendOversize(req: IncomingMessage, res: ServerResponse, size: number): Promise<void> {
  const json = header(req, "content-type").toLowerCase().startsWith("application/json");
  const chunk = Buffer.alloc(1024 * 1024, json ? "A" : "a");
  let head: Buffer;
  let tail: Buffer;
  let n = size;
  if (json) {
    n -= n % 4; // whole base64 quads
    head = Buffer.from('{"task":{"id":"1","workflowPayload":"');
    tail = Buffer.from('"}}');
  } else {
    // FetchTaskResponse.task (1) { id (1) = 1, workflow_payload (2) = n bytes }
    const payloadField = Buffer.concat([Buffer.from([0x12]), varint(n)]);
    const task = Buffer.concat([Buffer.from([0x08, 0x01]), payloadField]);
    head = Buffer.concat([Buffer.from([0x0a]), varint(task.length + n), task]);
    tail = Buffer.alloc(0);
  }
  res.writeHead(200, { "Content-Type": json ? "application/json" : "application/proto", "Content-Length": String(head.length + n + tail.length) });
  const write = (b: Buffer) => (res.write(b) ? Promise.resolve() : new Promise<void>((r) => res.once("drain", () => r())));
  await write(head);
  for (let left = n; left > 0 && !res.destroyed; left -= chunk.length) await write(left >= chunk.length ? chunk : chunk.subarray(0, left));
  res.end(tail);
}

function varint(v: number): Buffer {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}
