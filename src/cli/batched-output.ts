import { writeSync } from "node:fs";

/**
 * Console output gathered into few large writes: a job printing millions of lines would otherwise make one
 * write system call per line. Text is written when the batch is full or once the current turn of the event
 * loop is done (output stays live).
 */
const BATCH_BYTES = 64 * 1024;
/** A run of lines under one prefix is encoded when it reaches this many UTF-16 code units. */
const RUN_CHARS = 16 * 1024;

export interface BatchedOutput {
  write(s: string): void;
  /** Writes `prefix`, `line` and a newline; consecutive lines with the same prefix are encoded together. */
  writeLine(prefix: string, line: string): void;
  flush(): void;
}

/** Gathers text as UTF-8 in one buffer and hands `sink` a view of it, reused after the call. */
export function batchedOutput(sink: (b: Buffer) => void): BatchedOutput {
  const buf = Buffer.allocUnsafe(BATCH_BYTES);
  let used = 0;
  let scheduled = false;
  // The pending run: its lines, each followed by "\n", all to be written after `runPrefix`.
  let runPrefix = "";
  let runText = "";
  let runLines = 0;
  // The last prefix as a string of Latin-1 characters, one per byte of its UTF-8 form.
  let prefixOf = "";
  let prefixBytes = "";
  const scratch = Buffer.allocUnsafe(3 * (RUN_CHARS + 1));

  const flush = () => {
    endRun();
    flushBuffer();
  };
  const flushBuffer = () => {
    if (used === 0) return;
    const n = used;
    used = 0;
    sink(buf.subarray(0, n));
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      flush();
    });
  };
  const writeText = (s: string) => {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    if (used + s.length * 3 > BATCH_BYTES) {
      flushBuffer();
      if (s.length * 3 > BATCH_BYTES) {
        sink(Buffer.from(s));
        return;
      }
    }
    used += buf.write(s, used);
  };
  // Encoding each line on its own costs more than the bytes it moves (and a non-Latin-1 prefix such as "│"
  // makes every joined line a two-byte string). A run is encoded once: its text to UTF-8, read back as one
  // Latin-1 character per byte, so the prefix (in the same form) goes in front of every line with one
  // replaceAll, and the result is written byte for byte.
  const endRun = () => {
    if (runLines === 0) return;
    if (prefixOf !== runPrefix) {
      prefixOf = runPrefix;
      prefixBytes = Buffer.from(runPrefix).toString("latin1");
    }
    // ASCII text (the UTF-8 length is the length) is its own Latin-1 form.
    const ascii = Buffer.byteLength(runText) === runText.length;
    const bytesOfText = ascii ? runText : scratch.toString("latin1", 0, scratch.write(runText, 0));
    const body = bytesOfText.replaceAll("\n", "\n" + prefixBytes);
    const bytes = prefixBytes.length + body.length;
    runText = "";
    runLines = 0;
    if (used + bytes > BATCH_BYTES) {
      flushBuffer();
      if (bytes > BATCH_BYTES) {
        sink(Buffer.from(prefixBytes + body.slice(0, body.length - prefixBytes.length), "latin1"));
        return;
      }
    }
    used += buf.write(prefixBytes, used, "latin1");
    // body ends with "\n" + the prefix of a next line that is not there.
    used += buf.write(body, used, "latin1") - prefixBytes.length;
  };
  return {
    write(s) {
      endRun();
      writeText(s);
      schedule();
    },
    writeLine(prefix, line) {
      if (line.length > RUN_CHARS) {
        endRun();
        writeText(`${prefix}${line}\n`);
        schedule();
        return;
      }
      if (prefix !== runPrefix || runText.length + line.length > RUN_CHARS) {
        endRun();
        runPrefix = prefix;
      }
      runText += line;
      runText += "\n";
      runLines++;
      schedule();
    },
    flush,
  };
}

let pause: Int32Array | undefined;

/**
 * A sink that writes to `fd` synchronously, waiting while a pipe is full. process.stdout queues writes to a
 * pipe in memory without limit; waiting here instead holds the job's output back in the job's own pipe, so
 * memory stays bounded however fast a step prints and however slowly the reader reads. A reader that went
 * away (EPIPE) gets no more output.
 */
export function fdSink(fd: number): (buf: Buffer) => void {
  let closed = false;
  return (buf) => {
    if (closed) return;
    let off = 0;
    while (off < buf.length) {
      try {
        off += writeSync(fd, buf, off);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EAGAIN") {
          Atomics.wait((pause ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, 1);
          continue;
        }
        if (code === "EPIPE") {
          closed = true;
          return;
        }
        throw err;
      }
    }
  };
}
