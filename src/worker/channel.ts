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
  /** A container job: its processes run in the job container, through the daemon (container calls). */
  container?: { programs: Record<string, string> };
}

/**
 * A process the worker asks the daemon to run in the job's container. A
 * docker action built from a Dockerfile sends its build context first, as
 * `context` chunks of a tar made by the worker (the daemon never reads the
 * job's directories); `dockerfile` is relative to that context.
 */
export interface ContainerSpawn {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  stdin?: string;
  image?: { image?: string; entrypoint?: string; build?: { dockerfile: string } };
}

/** Worker → daemon container calls; each names its call by `id`. */
export type ContainerCall =
  | { type: "spawn"; id: number; spec: ContainerSpawn }
  | { type: "context"; id: number; data: string }
  | { type: "kill"; id: number }
  | { type: "kill-all"; id: number };

/** Daemon → worker answers to container calls. */
export type ContainerReply =
  | { type: "output"; id: number; fd: 1 | 2; data: string }
  | { type: "exit"; id: number; code: number | null; signal: string | null }
  | { type: "call-failed"; id: number; message: string };

export type ToWorker = StartMessage | { type: "cancel"; message: string } | { type: "shutdown" } | ContainerReply;

/**
 * Consecutive log rows of one stage and step in one message: a busy step prints
 * hundreds of thousands of lines, and a message (JSON, a write, a parse) per
 * line would cost more than the rows themselves. `text` is the rows joined by
 * "\n" (a row holding a newline travels as an event of its own); `spans` are
 * pairs of epoch milliseconds and how many rows, in order, have that time.
 */
export interface LogBatch {
  type: "logs";
  stage: LogStage;
  stepIndex?: number;
  text: string;
  spans: number[];
}

/** Rows per log batch (each row is bounded by the engine's line limit). */
export const MAX_BATCH_ROWS = 4096;

export type FromWorker =
  | { type: "event"; event: JobEvent }
  | LogBatch
  | { type: "done"; outcome: JobOutcome }
  | { type: "alive" }
  | ContainerCall;

export function encode(msg: ToWorker | FromWorker): string {
  return encodeParts(msg).join("");
}

/**
 * The encoded message in pieces to write one after the other (a log batch's text is not copied into one string
 * with its frame). The rows travel as a raw payload announced by "=<bytes>": JSON-escaping megabytes of log text,
 * and parsing it again, would cost more than everything else the rows go through.
 */
export function encodeParts(msg: ToWorker | FromWorker): string[] {
  if (msg.type === "logs") {
    const { text, ...head } = msg;
    return [`=${Buffer.byteLength(text)}\n`, text, `${JSON.stringify(head)}\n`];
  }
  return [encodeOne(msg)];
}

function encodeOne(msg: ToWorker | FromWorker): string {
  // Only the start message can hold a bigint (ids in the payload); a replacer on every log batch would cost more than the rest of its way.
  if (msg.type === "start") return JSON.stringify(msg, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)) + "\n";
  return JSON.stringify(msg) + "\n";
}

/**
 * Splits a byte stream into lines; a line over the limit is an error, not a
 * buffer that grows. A line "=<n>" announces n raw bytes that belong to the
 * next line (its payload), whatever they hold.
 */
export class LineReader {
  private parts: Buffer[] = [];
  private size = 0;
  /** Bytes still to come of an announced payload; -1 outside one. */
  private owed = -1;
  private payload: string | undefined;

  constructor(
    private readonly onLine: (line: string, payload?: string) => void,
    private readonly onTooLong: () => void,
    private readonly limit = MAX_MESSAGE_BYTES,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      if (this.owed >= 0) {
        const take = Math.min(this.owed, chunk.length - start);
        if (take > 0) this.parts.push(Buffer.from(chunk.subarray(start, start + take)));
        this.owed -= take;
        start += take;
        if (this.owed > 0) return;
        this.payload = Buffer.concat(this.parts).toString("utf8");
        this.parts = [];
        this.size = 0;
        this.owed = -1;
        continue;
      }
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      if (this.size + piece.length > this.limit) return this.overflow();
      const line = this.parts.length > 0 ? Buffer.concat([...this.parts, piece]).toString("utf8") : piece.toString("utf8");
      this.parts = [];
      this.size = 0;
      start = nl + 1;
      if (line.startsWith("=") && this.payload === undefined && /^=\d{1,10}$/.test(line)) {
        const n = Number(line.slice(1));
        if (n > this.limit) return this.overflow();
        this.owed = n;
        continue;
      }
      const payload = this.payload;
      this.payload = undefined;
      this.onLine(line, payload);
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
    this.owed = -1;
    this.payload = undefined;
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

/** Parses one line from a worker, with the payload announced before it. */
export function decodeFromWorker(line: string, payload?: string): FromWorker {
  const v = parseObject(line);
  if (v.type === "logs") {
    if (payload === undefined) fail("logs: no rows");
    return logBatch(v, payload);
  }
  if (payload !== undefined) fail(`${String(v.type)}: a payload it does not take`);
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
    case "spawn":
      return { type: "spawn", id: index(v, "id"), spec: containerSpawn(v.spec) };
    case "context":
      return { type: "context", id: index(v, "id"), data: str(v, "data") };
    case "kill":
    case "kill-all":
      return { type: v.type, id: index(v, "id") };
    default:
      return fail("unknown message type");
  }
}

function logBatch(v: Obj, text: string): LogBatch {
  const stage = v.stage as LogStage;
  if (!STAGES.has(stage)) fail("stage: unknown");
  const spans = v.spans;
  if (!Array.isArray(spans) || spans.length === 0 || spans.length % 2 !== 0) fail("spans: not time and count pairs");
  let rows = 0;
  for (let i = 0; i < spans.length; i += 2) {
    const t = spans[i];
    const n = spans[i + 1];
    if (typeof t !== "number" || !Number.isFinite(t) || t < 0) fail("spans: not a time");
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) fail("spans: not a count");
    rows += n;
  }
  if (rows > MAX_BATCH_ROWS) fail(`more than ${MAX_BATCH_ROWS} rows`);
  let newlines = 0;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) newlines++;
  if (newlines + 1 !== rows) fail("spans: not one time per row");
  const batch: LogBatch = { type: "logs", stage, text, spans: spans as number[] };
  copyOpt(batch, "stepIndex", optIndex(v, "stepIndex"));
  return batch;
}

/** Calls `fn` with each row of a checked batch, in order; rows of one span share one (never changed) Date. */
export function forEachRow(b: LogBatch, fn: (time: Date, line: string) => void): void {
  let start = 0;
  for (let i = 0; i < b.spans.length; i += 2) {
    const time = new Date(b.spans[i]!);
    for (let n = b.spans[i + 1]!; n > 0; n--) {
      let end = b.text.indexOf("\n", start);
      if (end < 0) end = b.text.length;
      fn(time, b.text.slice(start, end));
      start = end + 1;
    }
  }
}


function containerSpawn(v: unknown): ContainerSpawn {
  if (!isObj(v)) fail("spec: not an object");
  const args = v.args;
  if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) fail("spec.args: not a list of strings");
  const spec: ContainerSpawn = { file: str(v, "file"), args: args as string[], cwd: str(v, "cwd"), env: strings(v, "env") };
  copyOpt(spec, "stdin", optStr(v, "stdin"));
  if (v.image !== undefined) {
    const i = v.image;
    if (!isObj(i)) fail("spec.image: not an object");
    const image: NonNullable<ContainerSpawn["image"]> = {};
    copyOpt(image, "image", optStr(i, "image"));
    copyOpt(image, "entrypoint", optStr(i, "entrypoint"));
    if (i.build !== undefined) {
      if (!isObj(i.build)) fail("spec.image.build: not an object");
      image.build = { dockerfile: str(i.build, "dockerfile") };
    }
    if ((image.image === undefined) === (image.build === undefined)) fail("spec.image: needs an image or a build, not both");
    spec.image = image;
  }
  return spec;
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
    case "output":
    case "exit":
    case "call-failed":
      return v as unknown as ContainerReply;
    default:
      return fail("unknown message type");
  }
}
