// The daemon's side of a container job's calls. The worker runs the engine
// as the job's uid and has no Docker socket; it asks the daemon for each
// process, which runs it in the job's container (the sandbox made for this
// job alone) and streams the output back. Everything in a call is untrusted:
// a docker action's build context arrives as tar bytes from the worker and
// its image tag is the hash of those bytes, so no job can replace the image
// another job of the same action uses.

import { createHash } from "node:crypto";
import type { JobSandbox, SpawnSpec } from "../host/sandbox.js";
import type { ContainerCall, ContainerReply, ContainerSpawn } from "./channel.js";

/** Largest build context a worker may send (all of a job's pending contexts together). */
export const MAX_CONTEXT_BYTES = 64 * 1024 * 1024;
/** Processes a job may have running in its container at once through the daemon. */
export const MAX_RUNNING = 256;

export interface ContainerCalls {
  handle(call: ContainerCall): void;
  /** The worker is gone: every process it started is stopped. */
  end(): void;
}

export function serveContainerCalls(
  sandbox: JobSandbox,
  reply: (m: ContainerReply) => void,
  /** A call that breaks the protocol: the daemon stops the worker. */
  violation: (why: string) => void,
  /** Backpressure from the worker's channel: a promise while it holds too much unread output. */
  wait?: () => Promise<void> | undefined,
): ContainerCalls {
  const running = new Map<number, AbortController>();
  const contexts = new Map<number, Buffer[]>();
  let contextBytes = 0;
  let ended = false;

  const spawn = (id: number, call: ContainerSpawn) => {
    if (running.has(id)) return violation(`container call ${id} is already running`);
    if (running.size >= MAX_RUNNING) return reply({ type: "call-failed", id, message: `more than ${MAX_RUNNING} processes at once` });
    let spec: SpawnSpec;
    try {
      spec = toSpawnSpec(call, contexts.get(id));
    } catch (err) {
      return reply({ type: "call-failed", id, message: (err as Error).message });
    } finally {
      for (const c of contexts.get(id) ?? []) contextBytes -= c.length;
      contexts.delete(id);
    }
    const abort = new AbortController();
    running.set(id, abort);
    const out = (fd: 1 | 2) => (c: Buffer) => {
      if (!ended) reply({ type: "output", id, fd, data: c.toString("base64") });
    };
    sandbox.spawn(spec, { onStdout: out(1), onStderr: out(2), ...(wait ? { wait } : {}) }, abort.signal).then(
      (exit) => reply({ type: "exit", id, code: exit.code, signal: exit.signal }),
      (err: Error) => reply({ type: "call-failed", id, message: err.message }),
    ).finally(() => running.delete(id));
  };

  return {
    handle(call) {
      if (ended) return;
      switch (call.type) {
        case "spawn":
          return spawn(call.id, call.spec);
        case "context": {
          const chunk = Buffer.from(call.data, "base64");
          if (contextBytes + chunk.length > MAX_CONTEXT_BYTES) {
            return violation(`a docker action's build context is over ${MAX_CONTEXT_BYTES / 1024 / 1024} MiB`);
          }
          contextBytes += chunk.length;
          const list = contexts.get(call.id) ?? [];
          list.push(chunk);
          contexts.set(call.id, list);
          return;
        }
        case "kill":
          running.get(call.id)?.abort();
          return;
        case "kill-all":
          sandbox.killAll().then(
            () => reply({ type: "exit", id: call.id, code: 0, signal: null }),
            (err: Error) => reply({ type: "call-failed", id: call.id, message: err.message }),
          );
          return;
      }
    },
    end() {
      ended = true;
      for (const a of running.values()) a.abort();
      contexts.clear();
    },
  };
}

function toSpawnSpec(call: ContainerSpawn, context: Buffer[] | undefined): SpawnSpec {
  const spec: SpawnSpec = { file: call.file, args: call.args, cwd: call.cwd, env: call.env };
  if (call.stdin !== undefined) spec.stdin = call.stdin;
  const img = call.image;
  if (!img) return spec;
  if (img.build) {
    if (!context) throw new Error("a docker action's build context did not arrive");
    const dockerfile = img.build.dockerfile;
    if (dockerfile === "" || dockerfile.startsWith("/") || dockerfile.split("/").includes("..")) {
      throw new Error(`the Dockerfile path ${JSON.stringify(dockerfile)} is not inside the action`);
    }
    const tar = Buffer.concat(context);
    const hash = createHash("sha256").update(dockerfile).update("\0").update(tar).digest("hex").slice(0, 16);
    spec.image = { build: { context: tar, dockerfile, tag: `native-runner-action-${hash}:latest` } };
  } else {
    spec.image = { image: img.image! };
  }
  if (img.entrypoint !== undefined) spec.image.entrypoint = img.entrypoint;
  return spec;
}
