// Process logging. Human-readable lines on a terminal, one JSON object per
// line otherwise (journald, files, tests). pino-pretty runs in-process as a
// stream: pino transports load modules by path in a worker thread, which
// does not survive bundling the CLI into one file.

import { pino, destination, type DestinationStream, type Logger as PinoLogger } from "pino";
import pretty from "pino-pretty";

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
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const fd = opts.fd ?? 2;
  const level = opts.level ?? "info";
  const base = { level, name: opts.name, base: undefined as undefined | Record<string, unknown> };
  if (opts.stream) return pino(base, opts.stream);
  const format = opts.format ?? "auto";
  const isTty = fd === 1 ? process.stdout.isTTY : fd === 2 ? process.stderr.isTTY : false;
  if (format === "pretty" || (format === "auto" && isTty)) {
    const stream = pretty({
      destination: fd,
      colorize: isTty === true,
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
