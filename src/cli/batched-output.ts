import { writeSync } from "node:fs";

/**
 * Console output gathered into few large writes: a job printing millions of lines would otherwise make one
 * write system call per line. Text is written when the batch is full or once the current turn of the event
 * loop is done (output stays live).
 */
const BATCH_BYTES = 64 * 1024;

export interface BatchedOutput {
  write(s: string): void;
  flush(): void;
}

/** Gathers text as UTF-8 in one buffer (one copy per line) and hands `sink` a view of it, reused after the call. */
export function batchedOutput(sink: (b: Buffer) => void): BatchedOutput {
  const buf = Buffer.allocUnsafe(BATCH_BYTES);
  let used = 0;
  let scheduled = false;
  const flush = () => {
    if (used === 0) return;
    const n = used;
    used = 0;
    sink(buf.subarray(0, n));
  };
  return {
    write(s) {
      // A UTF-16 code unit takes at most 3 bytes in UTF-8.
      if (used + s.length * 3 > BATCH_BYTES) {
        flush();
        if (s.length * 3 > BATCH_BYTES) {
          sink(Buffer.from(s));
          return;
        }
      }
      used += buf.write(s, used);
      if (!scheduled) {
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          flush();
        });
      }
    },
    flush,
  };
}

const pause = new Int32Array(new SharedArrayBuffer(4));

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
          Atomics.wait(pause, 0, 0, 1);
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
