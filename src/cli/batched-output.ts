/**
 * Console output gathered into few large writes: a job printing millions of lines would otherwise make one
 * write system call per line (stdout is synchronous for files and pipes). Text is written when BATCH_BYTES
 * are pending (memory stays bounded) or once the current turn of the event loop is done (output stays live).
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
