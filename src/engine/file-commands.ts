// GITHUB_ENV / GITHUB_OUTPUT / GITHUB_STATE / GITHUB_PATH / GITHUB_STEP_SUMMARY:
// a fresh set of files per step, read back after the step as a table of
// small readers. A malformed file fails the step.

import { chmodSync, closeSync, constants, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { randomUuid } from "../host/index.js";

export class FileCommandError extends Error {}

/** Effects of one step's file commands, applied by the step runner. */
export interface FileCommandEffects {
  env: Array<[string, string]>;
  outputs: Array<[string, string]>;
  state: Array<[string, string]>;
  path: string[];
  summary?: string;
  /** The summary was refused (too large). */
  summaryError?: string;
}

interface FileCommand {
  /** Environment variable suffix (GITHUB_<suffix>, FORGEJO_<suffix>). */
  envSuffix: string;
  prefix: string;
  read(text: string, into: FileCommandEffects): void;
}

/** GitHub limits a step summary to 1 MiB. */
export const SUMMARY_LIMIT = 1024 * 1024;
/** Bound on the other files, so a step cannot make the runner read gigabytes. */
export const FILE_LIMIT = 64 * 1024 * 1024;

const FILE_COMMANDS: FileCommand[] = [
  {
    envSuffix: "ENV",
    prefix: "set_env_",
    read: (text, into) => {
      for (const [k, v] of parseKeyValueFile(text, "environment variable")) into.env.push([k, v]);
    },
  },
  {
    envSuffix: "OUTPUT",
    prefix: "set_output_",
    read: (text, into) => {
      for (const kv of parseKeyValueFile(text, "output")) into.outputs.push(kv);
    },
  },
  {
    envSuffix: "STATE",
    prefix: "save_state_",
    read: (text, into) => {
      for (const kv of parseKeyValueFile(text, "state")) into.state.push(kv);
    },
  },
  {
    envSuffix: "PATH",
    prefix: "add_path_",
    read: (text, into) => {
      for (const line of text.split("\n")) {
        const p = line.endsWith("\r") ? line.slice(0, -1) : line;
        if (p !== "") into.path.push(p);
      }
    },
  },
  {
    envSuffix: "STEP_SUMMARY",
    prefix: "step_summary_",
    // The size limit is checked before reading (see StepFiles.read).
    read: (text, into) => {
      into.summary = text;
    },
  },
];

/** The files of one step. */
export class StepFiles {
  /** Files left empty by the step: the next step gets them under new names. */
  private readonly spare = new Map<FileCommand, string>();

  private constructor(private readonly paths: Map<FileCommand, string>) {}

  // Small synchronous file operations (microseconds each) rather than a
  // thread-pool round trip per file for every step. A previous step's empty
  // files are renamed rather than deleted and created again: the old names
  // are gone all the same, at a third of the system calls.
  static create(tempDir: string, previous?: StepFiles): StepFiles {
    const dir = join(tempDir, "_runner_file_commands");
    const st = lstatOrUndefined(dir);
    if (!st?.isDirectory()) {
      // Missing, or replaced with a symlink by a step.
      if (st) rmSync(dir, { force: true });
      mkdirSync(dir, { recursive: true, mode: 0o777 });
      chmodSync(dir, 0o777);
    }
    const suffix = randomUuid();
    const paths = new Map<FileCommand, string>();
    for (const fc of FILE_COMMANDS) {
      const p = join(dir, fc.prefix + suffix);
      const old = previous?.spare.get(fc);
      if (old !== undefined) {
        previous!.spare.delete(fc);
        try {
          renameSync(old, p);
          paths.set(fc, p);
          continue;
        } catch {
          // gone: create a new one
        }
      }
      // 0o666: the step may run as another user than the runner.
      const fd = openSync(p, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o666);
      try {
        // Through the descriptor: the name could be swapped between open and chmod.
        fchmodSync(fd, 0o666);
      } finally {
        closeSync(fd);
      }
      paths.set(fc, p);
    }
    return new StepFiles(paths);
  }

  /** GITHUB_ENV=..., FORGEJO_ENV=..., ... for the step's process. */
  env(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [fc, p] of this.paths) {
      out[`GITHUB_${fc.envSuffix}`] = p;
      out[`FORGEJO_${fc.envSuffix}`] = p;
    }
    return out;
  }

  /** Reads every file; errors are collected per file so one bad file doesn't hide another's effects. */
  read(): { effects: FileCommandEffects; errors: string[] } {
    const effects: FileCommandEffects = { env: [], outputs: [], state: [], path: [] };
    const errors: string[] = [];
    const refuse = (fc: FileCommand, why: string) => {
      errors.push(`Unable to process file command '${fc.envSuffix.toLowerCase()}' successfully.`);
      errors.push(why);
    };
    for (const [fc, p] of this.paths) {
      const st = lstatOrUndefined(p);
      if (!st) continue; // deleted by the step: nothing to apply
      if (!st.isFile()) {
        refuse(fc, `${p} is not a regular file`);
        continue;
      }
      if (st.size === 0) {
        this.spare.set(fc, p);
        continue;
      }
      let text: string;
      let fd: number;
      try {
        // Never follow a symlink put in place of the file: the runner may read files the job cannot.
        fd = openSync(p, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") refuse(fc, `${p} is not a regular file`);
        continue;
      }
      try {
        const fst = fstatSync(fd);
        if (!fst.isFile()) {
          refuse(fc, `${p} is not a regular file`);
          continue;
        }
        if (fc.envSuffix === "STEP_SUMMARY" && fst.size > SUMMARY_LIMIT) {
          // Reported, but (as on GitHub) not a step failure.
          effects.summaryError = `$GITHUB_STEP_SUMMARY supports content up a size of ${SUMMARY_LIMIT / 1024}k got ${Math.ceil(fst.size / 1024)}k`;
          continue;
        }
        if (fst.size > FILE_LIMIT) {
          refuse(fc, `The file is larger than ${FILE_LIMIT / 1048576} MiB.`);
          continue;
        }
        text = readAll(fd, fst.size);
      } finally {
        closeSync(fd);
      }
      try {
        fc.read(text, effects);
      } catch (e) {
        refuse(fc, (e as Error).message);
      }
    }
    return { effects, errors };
  }

  /** Deletes the files that cannot be handed to the next step. */
  remove(): void {
    for (const [fc, p] of this.paths) {
      if (this.spare.get(fc) === p) continue;
      try {
        unlinkSync(p);
      } catch {
        // deleted by the step, or replaced by a directory (read() has reported it)
      }
    }
  }
}

/**
 * `NAME=value` lines and `NAME<<DELIMITER` heredocs, as GitHub's runner reads
 * them: the delimiter must stand alone on a line, the value keeps inner
 * newlines but not the last one, a missing delimiter is an error.
 */
export function parseKeyValueFile(text: string, what: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let index = 0;
  const readLine = (): { line: string; newline: number } | undefined => {
    if (index >= text.length) return undefined;
    const lf = text.indexOf("\n", index);
    if (lf < 0) {
      const line = text.slice(index);
      index = text.length;
      return { line, newline: 0 };
    }
    const line = text.slice(index, lf);
    index = lf + 1;
    return { line, newline: 1 };
  };
  for (let r = readLine(); r !== undefined; r = readLine()) {
    const line = r.line;
    if (line === "") continue;
    const eq = line.indexOf("=");
    const hd = line.indexOf("<<");
    if (eq >= 0 && (hd < 0 || eq < hd)) {
      const name = line.slice(0, eq);
      if (name === "") throw new FileCommandError(`Invalid ${what} format '${line}'. Name must not be empty`);
      out.push([name, line.slice(eq + 1)]);
    } else if (hd >= 0 && (eq < 0 || hd < eq)) {
      const name = line.slice(0, hd);
      const delimiter = line.slice(hd + 2);
      if (name === "" || delimiter === "") {
        throw new FileCommandError(
          `Invalid ${what} format '${line}'. Name must not be empty and delimiter must not be empty`,
        );
      }
      const start = index;
      let end = index;
      for (;;) {
        const v = readLine();
        if (v === undefined) {
          throw new FileCommandError(`Invalid ${what} value. Matching delimiter not found '${delimiter}'`);
        }
        if (v.line === delimiter) break;
        end = index - v.newline;
      }
      out.push([name, end > start ? text.slice(start, end) : ""]);
    } else {
      throw new FileCommandError(`Invalid ${what} format '${line}'`);
    }
  }
  return out;
}

function lstatOrUndefined(p: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}


function readAll(fd: number, size: number): string {
  const buf = Buffer.alloc(size);
  let off = 0;
  while (off < size) {
    const n = readSync(fd, buf, off, size - off, off);
    if (n === 0) break;
    off += n;
  }
  return buf.toString("utf8", 0, off);
}
