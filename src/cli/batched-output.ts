import { writeSync } from "node:fs";

/**
 * Console output gathered into few large writes: a job printing millions of lines would otherwise make one
 * write system call per line. Text is written when BATCH_BYTES are pending or once the current turn of the
 * event loop is done (output stays live).
 */
const BATCH_BYTES = 64 * 1024;

export interface BatchedOutput {
  write(s: string): void;
  flush(): void;
}

export function batchedOutput(sink: (s: string) => void): BatchedOutput {
  let parts: string[] = [];
  let pending = 0;
  let scheduled = false;
  const flush = () => {
    if (parts.length === 0) return;
    const text = parts.length === 1 ? parts[0]! : parts.join("");
    parts = [];
    pending = 0;
    sink(text);
  };
  return {
    write(s) {
      parts.push(s);
      pending += s.length;
      if (pending >= BATCH_BYTES) flush();
      else if (!scheduled) {
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
export function fdSink(fd: number): (s: string) => void {
  let closed = false;
  return (s) => {
    if (closed) return;
    const buf = Buffer.from(s);
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
