// Starting a process in a sandbox before the one who will talk to it exists:
// its output is kept until attach(), its stdin and exit are promises.

import type { Writable } from "node:stream";
import type { ExitStatus, JobSandbox, PrestartedProcess, SpawnHandlers, SpawnSpec } from "./sandbox.js";

/** Output kept for a process nobody listens to yet; past this it is dropped (a waiting worker says little). */
const MAX_PENDING_BYTES = 1024 * 1024;

export function prestart(sandbox: JobSandbox, spec: Omit<SpawnSpec, "input" | "stdin">): PrestartedProcess {
  const kill = new AbortController();
  let handlers: SpawnHandlers | undefined;
  const pending: { err: boolean; chunk: Buffer }[] = [];
  let pendingBytes = 0;
  const keep = (err: boolean, chunk: Buffer) => {
    if (pendingBytes + chunk.length > MAX_PENDING_BYTES) return;
    pendingBytes += chunk.length;
    pending.push({ err, chunk });
  };
  let toStdin!: (w: Writable) => void;
  const stdin = new Promise<Writable>((resolve) => (toStdin = resolve));
  let exited = false;
  let startError: Error | undefined;
  const exit = sandbox
    .spawn(
      { ...spec, input: (w) => toStdin(w) },
      {
        onStdout: (c) => (handlers ? handlers.onStdout(c) : keep(false, c)),
        onStderr: (c) => (handlers ? handlers.onStderr(c) : keep(true, c)),
      },
      kill.signal,
    )
    .catch((err: Error): ExitStatus => {
      startError = err;
      return { code: null, signal: null };
    })
    .finally(() => {
      exited = true;
    });
  return {
    argv: [spec.file, ...spec.args],
    stdin,
    exit,
    get exited() {
      return exited;
    },
    get startError() {
      return startError;
    },
    attach(h) {
      if (handlers) throw new Error("a prestarted process is attached once");
      handlers = h;
      for (const p of pending.splice(0)) (p.err ? h.onStderr : h.onStdout)(p.chunk);
      pendingBytes = 0;
    },
    kill: () => kill.abort(),
  };
}
