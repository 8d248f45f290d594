// The worker's side of a container job: a JobSandbox whose processes the
// daemon runs in the job's container. The engine sees the same seam as for
// any host backend; the worker itself never holds the Docker socket.

import { createRequire } from "node:module";
import { relative } from "node:path";
import type { Readable } from "node:stream";
import type { ExitStatus, JobDirs, JobSandbox, SpawnHandlers, SpawnSpec } from "../host/sandbox.js";
import type { ContainerCall, ContainerReply, ContainerSpawn } from "./channel.js";
import { MAX_CONTEXT_BYTES } from "./container-calls.js";

/** Bytes per `context` message (base64 makes each line a third larger). */
const CONTEXT_CHUNK = 1024 * 1024;

interface Pending {
  handlers?: SpawnHandlers;
  resolve(exit: ExitStatus): void;
  reject(err: Error): void;
}

export class RemoteContainerSandbox implements JobSandbox {
  readonly runsActionImages = true;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private gone: Error | undefined;

  constructor(
    readonly dirs: JobDirs,
    readonly baseEnv: Record<string, string>,
    private readonly programs: Record<string, string>,
    private readonly send: (call: ContainerCall) => void,
  ) {}

  findProgram(name: string): string | undefined {
    if (name.includes("/")) return name;
    return Object.hasOwn(this.programs, name) ? this.programs[name] : undefined;
  }

  async spawn(spec: SpawnSpec, handlers: SpawnHandlers, signal: AbortSignal): Promise<ExitStatus> {
    if (signal.aborted) return { code: null, signal: "SIGKILL" };
    const id = this.nextId++;
    const call: ContainerSpawn = { file: spec.file, args: spec.args, cwd: spec.cwd, env: spec.env };
    if (spec.stdin !== undefined) call.stdin = spec.stdin;
    if (spec.image) {
      const { build, image, entrypoint } = spec.image;
      if (build) {
        const context = build.context;
        if (typeof context !== "string") throw new Error("a build context must be a directory here");
        await this.sendContext(id, context);
        call.image = { build: { dockerfile: relative(context, build.dockerfile) } };
      } else {
        call.image = { image: image ?? "" };
      }
      if (entrypoint !== undefined) call.image.entrypoint = entrypoint;
    }
    const exit = this.call(id, handlers);
    const onAbort = () => this.send({ type: "kill", id });
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      this.send({ type: "spawn", id, spec: call });
      return await exit;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  async killAll(): Promise<void> {
    if (this.gone) return;
    const id = this.nextId++;
    const done = this.call(id);
    this.send({ type: "kill-all", id });
    await done;
  }

  /** The daemon disposes of the container; nothing is left here to clean. */
  async dispose(): Promise<void> {}

  /** An answer from the daemon. */
  reply(m: ContainerReply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    switch (m.type) {
      case "output": {
        const chunk = Buffer.from(m.data, "base64");
        if (m.fd === 1) p.handlers?.onStdout(chunk);
        else p.handlers?.onStderr(chunk);
        return;
      }
      case "exit":
        this.pending.delete(m.id);
        return p.resolve({ code: m.code, signal: (m.signal as NodeJS.Signals | null) ?? null });
      case "call-failed":
        this.pending.delete(m.id);
        return p.reject(new Error(m.message));
    }
  }

  /** The daemon went away: every call fails. */
  end(why: string): void {
    this.gone = new Error(why);
    for (const p of this.pending.values()) p.reject(this.gone);
    this.pending.clear();
  }

  private call(id: number, handlers?: SpawnHandlers): Promise<ExitStatus> {
    if (this.gone) return Promise.reject(this.gone);
    return new Promise((resolve, reject) => this.pending.set(id, { ...(handlers ? { handlers } : {}), resolve, reject }));
  }

  /** A tar of the action's directory, made here as the job's uid (symlinks stay links). */
  private async sendContext(id: number, dir: string): Promise<void> {
    const tar = packDirectory(dir);
    let size = 0;
    let pending: Buffer[] = [];
    let pendingSize = 0;
    const flush = () => {
      if (pendingSize === 0) return;
      this.send({ type: "context", id, data: Buffer.concat(pending).toString("base64") });
      pending = [];
      pendingSize = 0;
    };
    for await (const chunk of tar) {
      const c = chunk as Buffer;
      size += c.length;
      if (size > MAX_CONTEXT_BYTES) {
        tar.destroy();
        throw new Error(`the docker action's directory ${dir} is over ${MAX_CONTEXT_BYTES / 1024 / 1024} MiB`);
      }
      pending.push(c);
      pendingSize += c.length;
      if (pendingSize >= CONTEXT_CHUNK) flush();
    }
    flush();
  }
}

// dockerode packs build contexts with tar-fs; the same packer is used here, from dockerode's own dependencies.
const requireFromDockerode = (): NodeJS.Require => createRequire(createRequire(import.meta.url).resolve("dockerode"));

interface TarHeader {
  mtime?: Date;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
}

function packDirectory(dir: string): Readable {
  const tarFs = requireFromDockerode()("tar-fs") as {
    pack(dir: string, o: { dereference?: boolean; sort?: boolean; map?: (h: TarHeader) => TarHeader }): Readable;
  };
  // Times and owners are left out so that the same content gives the same bytes (and image tag) in every job.
  return tarFs.pack(dir, {
    dereference: false,
    sort: true,
    map: (h) => ({ ...h, mtime: new Date(0), uid: 0, gid: 0, uname: "", gname: "" }),
  });
}
