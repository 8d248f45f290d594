// Process logging. Human-readable lines on a terminal, one JSON object per
// line otherwise (journald, files, tests). pino-pretty runs in-process as a
// stream: pino transports load modules by path in a worker thread, which
// does not survive bundling the CLI. It is imported only when a logger will
// pretty-print (createCliLogger): a daemon logging JSON to journald never
// loads its code.

import { pino, destination, type DestinationStream, type Logger as PinoLogger } from "pino";
import type { PrettyOptions } from "pino-pretty";

type PrettyFactory = (opts: PrettyOptions) => DestinationStream;

export type Logger = PinoLogger;
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";

export interface LoggerOptions {
  level?: LogLevel;
  /** "auto": pretty when the destination is a TTY. */
  format?: "auto" | "json" | "pretty";
  /** File descriptor to write to (default 2, stderr). Ignored when `stream` is given. */
  fd?: number;
  stream?: DestinationStream;
  name?: string;
  /** pino-pretty's factory, for the pretty format; without it a logger writes JSON. */
  pretty?: PrettyFactory;
}

function isTtyFd(fd: number): boolean {
  return (fd === 1 ? process.stdout.isTTY : fd === 2 ? process.stderr.isTTY : false) === true;
}

function wantsPretty(opts: LoggerOptions): boolean {
  const format = opts.format ?? "auto";
  return !opts.stream && (format === "pretty" || (format === "auto" && isTtyFd(opts.fd ?? 2)));
}

/** createLogger for the CLI: loads pino-pretty first when the format calls for it. */
export async function createCliLogger(opts: LoggerOptions = {}): Promise<Logger> {
  if (!wantsPretty(opts) || opts.pretty) return createLogger(opts);
  const pretty = (await import("pino-pretty")).default as unknown as PrettyFactory;
  return createLogger({ ...opts, pretty });
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const fd = opts.fd ?? 2;
  const level = opts.level ?? "info";
  const base = { level, name: opts.name, base: undefined as undefined | Record<string, unknown> };
  if (opts.stream) return pino(base, opts.stream);
  if (wantsPretty(opts) && opts.pretty) {
    const stream = opts.pretty({
      destination: fd,
      colorize: isTtyFd(fd),
      translateTime: "SYS:HH:MM:ss.l",
      ignore: "pid,hostname",
      sync: true,
    });
    return pino(base, stream);
  }
  return pino(base, destination({ dest: fd, sync: true }));
}

/** A child logger carrying the task's identity on every line. */
export function taskLogger(log: Logger, fields: { taskId: bigint | number | string; repo?: string; job?: string; connection?: string }): Logger {
  const bindings: Record<string, string> = { taskId: String(fields.taskId) };
  if (fields.repo) bindings.repo = fields.repo;
  if (fields.job) bindings.job = fields.job;
  if (fields.connection) bindings.connection = fields.connection;
  return log.child(bindings);
}

/** A logger that discards everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
