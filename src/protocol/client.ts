// Typed client for Forgejo's runner API (ping.v1 + runner.v1 over Connect).
// Binary protobuf by default, as forgejo-runner sends it. Fields whose wire
// numbers are not confirmed (task_capacity, additional_tasks, FetchSingleTask)
// only travel over Connect JSON, where the field name identifies them: those
// calls go through a second, JSON transport even when the client is binary.

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport } from "@connectrpc/connect-node";
import { PingService } from "./gen/ping/v1/services_pb.js";
import type { PingResponse } from "./gen/ping/v1/messages_pb.js";
import { RunnerService } from "./gen/runner/v1/services_pb.js";
import {
  RegisterRequestSchema,
  type DeclareResponse,
  type FetchSingleTaskResponse,
  type FetchTaskResponse,
  type RegisterResponse,
  type UpdateLogRequestSchema,
  type UpdateLogResponse,
  type UpdateTaskRequestSchema,
  type UpdateTaskResponse,
} from "./gen/runner/v1/messages_pb.js";

export type Codec = "proto" | "json";

export interface ForgejoClientOptions {
  /** Forgejo root URL (`https://forgejo.example/`); the API lives under `<baseUrl>/api/actions`. */
  baseUrl: string;
  uuid?: string;
  token?: string;
  codec?: Codec;
  /** Skip TLS certificate verification. */
  insecure?: boolean;
  /** Default per-call timeout; defaults to FORGEJO_CLIENT_TIMEOUT seconds, else 60 s. */
  timeoutMs?: number;
  /**
   * Largest answer read, compressed or not (runner.fetch_max_size); a larger
   * one is refused while it streams in, never buffered whole. Default 32 MiB.
   */
  maxAnswerBytes?: number;
}

export const DEFAULT_MAX_ANSWER_BYTES = 32 * 1024 * 1024;

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface FetchOptions extends CallOptions {
  /** x-runner-request-key: reuse after an error, rotate after a success. */
  requestKey: string;
  timeoutMs: number;
  /** Free slots; sent as task_capacity (over JSON only) when > 1. */
  capacity?: number;
}

export type RegisterInit = MessageInitShape<typeof RegisterRequestSchema>;
export type UpdateTaskInit = MessageInitShape<typeof UpdateTaskRequestSchema>;
export type UpdateLogInit = MessageInitShape<typeof UpdateLogRequestSchema>;

export interface ForgejoClient {
  readonly baseUrl: string;
  readonly codec: Codec;
  /** Time (Date.now()) of the last call that reached the server, failed or not. */
  readonly lastContactAt: number;
  ping(data: string, opts?: CallOptions): Promise<PingResponse>;
  register(req: RegisterInit, opts?: CallOptions): Promise<RegisterResponse>;
  declare(version: string, labels: string[], opts?: CallOptions): Promise<DeclareResponse>;
  fetchTask(tasksVersion: bigint, opts: FetchOptions): Promise<FetchTaskResponse>;
  fetchSingleTask(opts: Omit<FetchOptions, "capacity"> & { handle?: string }): Promise<FetchSingleTaskResponse>;
  updateTask(req: UpdateTaskInit, opts?: CallOptions): Promise<UpdateTaskResponse>;
  updateLog(req: UpdateLogInit, opts?: CallOptions): Promise<UpdateLogResponse>;
}

/** FORGEJO_CLIENT_TIMEOUT (seconds) as milliseconds; 60 s when unset or invalid. */
export function clientTimeoutFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FORGEJO_CLIENT_TIMEOUT;
  if (raw === undefined || raw.trim() === "") return 60_000;
  const seconds = Number(raw.trim().replace(/s$/, ""));
  return Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1000) : 60_000;
}

/** The Connect base URL for a Forgejo root URL. */
export function actionsApiUrl(instance: string): string {
  return `${instance.replace(/\/+$/, "")}/api/actions`;
}

export function createForgejoClient(opts: ForgejoClientOptions): ForgejoClient {
  const codec: Codec = opts.codec ?? "proto";
  const timeoutMs = opts.timeoutMs ?? clientTimeoutFromEnv();
  const maxAnswerBytes = opts.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
  const tooLarge = (err: unknown): never => {
    const e = ConnectError.from(err);
    if (e.code !== Code.ResourceExhausted) throw err;
    throw new ConnectError(
      `the FetchTask answer is larger than ${maxAnswerBytes} bytes (runner.fetch_max_size); refused without reading it whole (${e.rawMessage})`,
      Code.ResourceExhausted,
    );
  };
  const state = { lastContactAt: 0 };

  const auth: Interceptor = (next) => async (req) => {
    if (opts.uuid) req.header.set("x-runner-uuid", opts.uuid);
    if (opts.token) req.header.set("x-runner-token", opts.token);
    try {
      const res = await next(req);
      state.lastContactAt = Date.now();
      return res;
    } catch (err) {
      // An answered error still counts as contact (the server saw us).
      if (err instanceof ConnectError && answeredByServer(err)) state.lastContactAt = Date.now();
      throw err;
    }
  };

  const makeTransport = (binary: boolean) =>
    createConnectTransport({
      httpVersion: "1.1",
      baseUrl: actionsApiUrl(opts.baseUrl),
      useBinaryFormat: binary,
      acceptCompression: [compressionGzip],
      readMaxBytes: maxAnswerBytes,
      defaultTimeoutMs: timeoutMs,
      interceptors: [auth],
      jsonOptions: { ignoreUnknownFields: true },
      nodeOptions: opts.insecure ? { rejectUnauthorized: false } : {},
    });

  const main = makeTransport(codec === "proto");
  const json = codec === "json" ? main : makeTransport(false);
  const runner: Client<typeof RunnerService> = createClient(RunnerService, main);
  const runnerJson: Client<typeof RunnerService> = codec === "json" ? runner : createClient(RunnerService, json);
  const ping: Client<typeof PingService> = createClient(PingService, main);

  const callOpts = (o?: CallOptions, headers?: Record<string, string>) => ({
    timeoutMs: o?.timeoutMs,
    signal: o?.signal,
    headers,
  });

  return {
    baseUrl: opts.baseUrl,
    codec,
    get lastContactAt() {
      return state.lastContactAt;
    },
    ping: (data, o) => ping.ping({ data }, callOpts(o)),
    register: (req, o) => runner.register(create(RegisterRequestSchema, req), callOpts(o)),
    declare: (version, labels, o) => runner.declare({ version, labels }, callOpts(o)),
    fetchTask: (tasksVersion, o) => {
      const headers = { "x-runner-request-key": o.requestKey };
      if (o.capacity !== undefined && o.capacity > 1) {
        return runnerJson.fetchTask({ tasksVersion, taskCapacity: BigInt(o.capacity) }, callOpts(o, headers)).catch(tooLarge);
      }
      return runner.fetchTask({ tasksVersion }, callOpts(o, headers)).catch(tooLarge);
    },
    fetchSingleTask: (o) =>
      runnerJson.fetchSingleTask(
        { tasksVersion: 0n, handle: o.handle },
        callOpts(o, { "x-runner-request-key": o.requestKey }),
      ).catch(tooLarge),
    updateTask: (req, o) => runner.updateTask(req, callOpts(o)),
    updateLog: (req, o) => runner.updateLog(req, callOpts(o)),
  };
}

/** True when the error came back from the server rather than from the network or a local timeout. */
function answeredByServer(err: ConnectError): boolean {
  return ![Code.Unavailable, Code.DeadlineExceeded, Code.Canceled, Code.Aborted].includes(err.code);
}

/**
 * The server does not know this runner (deleted, wrong token). Current
 * servers answer `unauthenticated`; servers before 2025-03 answered
 * `unknown` with the gRPC text "… unregistered runner".
 */
export function isUnregisteredRunner(err: unknown): boolean {
  if (!(err instanceof ConnectError)) return false;
  if (err.code === Code.Unauthenticated) return true;
  return err.code === Code.Unknown && /unregistered runner/i.test(err.rawMessage);
}

/** The server lacks this RPC (old Forgejo): plain 404 or Connect `unimplemented`. */
export function isUnimplemented(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.Unimplemented;
}

/** Errors worth retrying: network trouble, timeouts, 5xx-like codes. */
export function isTransient(err: unknown): boolean {
  const e = ConnectError.from(err);
  return [
    Code.Unavailable, Code.DeadlineExceeded, Code.Aborted, Code.Internal, Code.Unknown,
    Code.ResourceExhausted, Code.Canceled,
  ].includes(e.code) && !isUnregisteredRunner(e);
}

export { Code, ConnectError };
