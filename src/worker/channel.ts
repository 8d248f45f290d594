// The typed channel between the daemon and a job worker: one JSON object per
// line, over the worker's stdin (daemon → worker) and stdout (worker → daemon).
// Everything the worker sends is untrusted (the job runs as the same user as
// the worker), so the daemon validates each message and bounds its size.

import type { JobDirs } from "../host/sandbox.js";
import type { AnnotationEvent, Conclusion, JobEvent, LogStage } from "../engine/events.js";
import type { JobOutcome, JobRequest } from "../engine/job-request.js";

/** Largest message either side accepts (a log row is far smaller; the start message carries the payload). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** The worker says it is alive this often, even while a step prints nothing. */
export const HEARTBEAT_MS = 2_000;

export interface StartMessage {
  type: "start";
  request: JobRequest;
  dirs: JobDirs;
  /** Base environment of every step (the sandbox's allow-list). */
  baseEnv: Record<string, string>;
  backendName: string;
  /** git identity for a job uid without a passwd entry: written to HOME/.gitconfig by the worker. */
  gitIdentity?: { name: string; email: string };
}

export type ToWorker = StartMessage | { type: "cancel"; message: string } | { type: "shutdown" };

export type FromWorker =
  | { type: "event"; event: JobEvent }
  | { type: "done"; outcome: JobOutcome }
  | { type: "alive" };

export function encode(msg: ToWorker | FromWorker): string {
  return JSON.stringify(msg, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)) + "\n";
}

/** Splits a byte stream into lines; a line over the limit is an error, not a buffer that grows. */
export class LineReader {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly onTooLong: () => void,
    private readonly limit = MAX_MESSAGE_BYTES,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      if (this.size + piece.length > this.limit) return this.overflow();
      const line = this.parts.length > 0 ? Buffer.concat([...this.parts, piece]).toString("utf8") : piece.toString("utf8");
      this.parts = [];
      this.size = 0;
      this.onLine(line);
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0) return;
    if (this.size + rest.length > this.limit) return this.overflow();
    this.parts.push(Buffer.from(rest));
    this.size += rest.length;
  }

  private overflow(): void {
    this.parts = [];
    this.size = 0;
    this.onTooLong();
  }
}

export class ChannelError extends Error {}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const CONCLUSIONS = new Set<Conclusion>(["success", "failure", "cancelled", "skipped"]);
const STAGES = new Set<LogStage>(["setup", "step", "complete"]);
const LEVELS = new Set<AnnotationEvent["level"]>(["notice", "warning", "error"]);

function fail(what: string): never {
  throw new ChannelError(what);
}
function str(o: Obj, k: string): string {
  const v = o[k];
  return typeof v === "string" ? v : fail(`${k}: not a string`);
}
function optStr(o: Obj, k: string): string | undefined {
  return o[k] === undefined ? undefined : str(o, k);
}
function index(o: Obj, k: string): number {
  const v = o[k];
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : fail(`${k}: not an index`);
}
function optIndex(o: Obj, k: string): number | undefined {
  return o[k] === undefined ? undefined : index(o, k);
}
function time(o: Obj): Date {
  const d = new Date(str(o, "time"));
  return Number.isNaN(d.getTime()) ? fail("time: not a date") : d;
}
function conclusion(o: Obj, k: string): Conclusion {
  const v = o[k];
  return CONCLUSIONS.has(v as Conclusion) ? (v as Conclusion) : fail(`${k}: not a result`);
}
function strings(o: Obj, k: string): Record<string, string> {
  const v = o[k];
  if (!isObj(v)) fail(`${k}: not a map`);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(v)) out[name] = typeof value === "string" ? value : fail(`${k}.${name}: not a string`);
  return out;
}
function copyOpt<T extends object>(target: T, key: keyof T & string, value: unknown): void {
  if (value !== undefined) (target as Record<string, unknown>)[key] = value;
}

/** Parses and checks one event as sent by a worker (dates travel as ISO strings). */
export function decodeEvent(v: unknown): JobEvent {
  if (!isObj(v)) fail("event: not an object");
  switch (v.type) {
    case "log": {
      const stage = v.stage as LogStage;
      if (!STAGES.has(stage)) fail("stage: unknown");
      const e: JobEvent = { type: "log", time: time(v), line: str(v, "line"), stage };
      copyOpt(e, "stepIndex", optIndex(v, "stepIndex"));
      return e;
    }
    case "step-started":
      return { type: "step-started", time: time(v), index: index(v, "index"), id: str(v, "id"), name: str(v, "name") };
    case "step-finished":
      return {
        type: "step-finished", time: time(v), index: index(v, "index"), id: str(v, "id"),
        outcome: conclusion(v, "outcome"), conclusion: conclusion(v, "conclusion"), outputs: strings(v, "outputs"),
      };
    case "annotation": {
      const level = v.level as AnnotationEvent["level"];
      if (!LEVELS.has(level)) fail("level: unknown");
      const e: AnnotationEvent = { type: "annotation", time: time(v), level, message: str(v, "message") };
      copyOpt(e, "file", optStr(v, "file"));
      for (const k of ["line", "endLine", "col", "endColumn", "stepIndex"] as const) copyOpt(e, k, optIndex(v, k));
      copyOpt(e, "title", optStr(v, "title"));
      return e;
    }
    case "summary":
      return { type: "summary", time: time(v), markdown: str(v, "markdown") };
    case "job-finished":
      return { type: "job-finished", time: time(v), result: conclusion(v, "result"), outputs: strings(v, "outputs") };
    default:
      return fail("event: unknown type");
  }
}

function parseObject(line: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    fail("not JSON");
  }
  if (!isObj(v)) fail("not an object");
  return v;
}

/** Parses one line from a worker. */
export function decodeFromWorker(line: string): FromWorker {
  const v = parseObject(line);
  switch (v.type) {
    case "event":
      return { type: "event", event: decodeEvent(v.event) };
    case "done": {
      const o = v.outcome;
      if (!isObj(o)) fail("outcome: not an object");
      return { type: "done", outcome: { result: conclusion(o, "result"), outputs: strings(o, "outputs") } };
    }
    case "alive":
      return { type: "alive" };
    default:
      return fail("unknown message type");
  }
}

/** Parses one line from the daemon (the worker trusts its daemon; this only checks the shape). */
export function decodeToWorker(line: string): ToWorker {
  const v = parseObject(line);
  switch (v.type) {
    case "start":
      if (!isObj(v.request) || !isObj(v.dirs) || !isObj(v.baseEnv) || typeof v.backendName !== "string") fail("start: incomplete");
      return v as unknown as StartMessage;
    case "cancel":
      return { type: "cancel", message: str(v, "message") };
    case "shutdown":
      return { type: "shutdown" };
    default:
      return fail("unknown message type");
  }
}
