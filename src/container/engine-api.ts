// The Docker Engine API (Docker, or Podman's compatible service) through
// dockerode. Only the runner process holds this connection: the socket is
// root-equivalent and never reaches a job.

import { existsSync } from "node:fs";
import { Writable } from "node:stream";
import { createRequire } from "node:module";
import type Docker from "dockerode";

export type Engine = Docker;

/** Labels on every container, network and volume the runner creates. */
export const LABEL_RUNNER = "org.native-runner.runner";
export const LABEL_TASK = "org.native-runner.task";

const DEFAULT_SOCKETS = ["/var/run/docker.sock", "/run/podman/podman.sock"];

/**
 * The daemon address: `container.docker_host` when it names one (forgejo-runner's
 * "-" and "" mean "find it"), else DOCKER_HOST, else the first default socket that exists.
 */
export function engineAddress(dockerHost: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (dockerHost && dockerHost !== "-" && dockerHost !== "automount") return dockerHost;
  if (env.DOCKER_HOST) return env.DOCKER_HOST;
  const found = DEFAULT_SOCKETS.find((s) => existsSync(s));
  return `unix://${found ?? DEFAULT_SOCKETS[0]}`;
}

// dockerode (with ssh2 and its other dependencies: ~200 ms of start-up) is loaded on the first connection,
// not by every `exec` and daemon start that never runs a container.
const requireCjs = createRequire(import.meta.url);

export function connectEngine(address: string, timeoutMs?: number): Engine {
  const Docker = requireCjs("dockerode") as typeof import("dockerode");
  const t = timeoutMs && timeoutMs > 0 ? { timeout: timeoutMs } : {};
  if (address.startsWith("unix://")) return new Docker({ socketPath: address.slice("unix://".length), ...t });
  if (address.startsWith("/")) return new Docker({ socketPath: address, ...t });
  const m = /^(tcp|http|https):\/\/([^:/]+)(?::(\d+))?\/?$/.exec(address);
  if (!m) throw new Error(`container daemon address ${JSON.stringify(address)}: expected unix:///path or tcp://host:port`);
  return new Docker({ protocol: m[1] === "https" ? "https" : "http", host: m[2]!, port: Number(m[3] ?? 2375), ...t });
}

/** The socket path when the address is a unix socket (to mount it into jobs when configured). */
export function socketPath(address: string): string | undefined {
  if (address.startsWith("unix://")) return address.slice("unix://".length);
  if (address.startsWith("/")) return address;
  return undefined;
}

export interface PullAuth {
  username: string;
  password: string;
  serveraddress?: string;
}

/** Pulls `image` unless it is present (or `force`); progress lines go to `log`. */
export async function ensureImage(
  docker: Engine,
  image: string,
  opts: { force?: boolean; auth?: PullAuth; log: (line: string) => void },
): Promise<void> {
  if (!opts.force) {
    try {
      await docker.getImage(image).inspect();
      return;
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }
  opts.log(`Pulling image ${image}`);
  let stream: NodeJS.ReadableStream;
  try {
    stream = (await docker.pull(image, opts.auth ? { authconfig: opts.auth } : {})) as NodeJS.ReadableStream;
  } catch (err) {
    throw new Error(`pulling image ${image} failed: ${messageOf(err)}`);
  }
  let lastStatus = "";
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null, output: Array<{ error?: string }>) => {
        const failed = err ?? output.find((o) => o.error);
        if (failed) reject(new Error(`pulling image ${image} failed: ${failed instanceof Error ? failed.message : failed.error}`));
        else resolve();
      },
      (ev: { status?: string; id?: string; progress?: string }) => {
        // One row per status change of a layer, not one per progress tick.
        const line = [ev.id, ev.status].filter(Boolean).join(": ");
        if (line && line !== lastStatus) {
          lastStatus = line;
          opts.log(line);
        }
      },
    );
  });
}

export interface ExecOptions {
  cmd: string[];
  env?: Record<string, string>;
  workingDir?: string;
  user?: string;
  stdin?: string;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** Backpressure: while it returns a promise, the output stream is paused. */
  wait?: () => Promise<void> | undefined;
}

/** Splits a multiplexed output stream to two callbacks, pausing it while `wait` says the consumer is full. */
export function demux(
  container: Docker.Container,
  stream: NodeJS.ReadableStream,
  onStdout: ((c: Buffer) => void) | undefined,
  onStderr: ((c: Buffer) => void) | undefined,
  wait?: () => Promise<void> | undefined,
): void {
  let paused = false;
  const sink = (fn?: (c: Buffer) => void) =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        fn?.(chunk);
        const w = paused ? undefined : wait?.();
        if (w) {
          paused = true;
          stream.pause();
          void w.then(() => {
            paused = false;
            stream.resume();
          });
        }
        cb();
      },
    });
  container.modem.demuxStream(stream, sink(onStdout), sink(onStderr));
}

/** Runs a process in a running container; resolves with its exit code once its output has ended. */
export async function execIn(container: Docker.Container, o: ExecOptions): Promise<number | null> {
  const exec = await container.exec({
    Cmd: o.cmd,
    ...(o.env ? { Env: Object.entries(o.env).map(([k, v]) => `${k}=${v}`) } : {}),
    ...(o.workingDir ? { WorkingDir: o.workingDir } : {}),
    ...(o.user ? { User: o.user } : {}),
    AttachStdout: true,
    AttachStderr: true,
    AttachStdin: o.stdin !== undefined,
    Tty: false,
  });
  const stream = (await exec.start({ hijack: true, stdin: o.stdin !== undefined })) as NodeJS.ReadWriteStream;
  demux(container, stream, o.onStdout, o.onStderr, o.wait);
  if (o.stdin !== undefined) {
    stream.write(o.stdin);
    (stream as unknown as { end(): void }).end();
  }
  // The output ends when the process and every holder of its stdout are gone;
  // a background child must not keep the step alive, so the exit is polled too.
  let poll: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    stream.once("end", done);
    stream.once("close", done);
    stream.once("error", done);
    const check = () => {
      exec.inspect().then(
        (i) => {
          if (i.Running) poll = setTimeout(check, 500);
          else setTimeout(done, 100);
        },
        () => (poll = setTimeout(check, 500)),
      );
    };
    poll = setTimeout(check, 500);
  });
  clearTimeout(poll);
  (stream as unknown as { destroy(): void }).destroy();
  const info = await exec.inspect();
  return typeof info.ExitCode === "number" ? info.ExitCode : null;
}

/** Runs a short command and returns its stdout (stderr appended on failure). */
export async function execCapture(container: Docker.Container, cmd: string[]): Promise<{ code: number | null; out: string }> {
  const chunks: Buffer[] = [];
  const errs: Buffer[] = [];
  const code = await execIn(container, { cmd, onStdout: (c) => chunks.push(c), onStderr: (c) => errs.push(c) });
  return { code, out: Buffer.concat(chunks).toString() + (code === 0 ? "" : Buffer.concat(errs).toString()) };
}

export function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown })?.statusCode;
  return typeof s === "number" ? s : undefined;
}

export function messageOf(err: unknown): string {
  const json = (err as { json?: { message?: string } })?.json;
  if (json && typeof json.message === "string") return json.message;
  return err instanceof Error ? err.message : String(err);
}

/** Collects a container's logs (services that failed). */
export async function containerLogs(container: Docker.Container, tail = 100): Promise<string[]> {
  const raw = (await container.logs({ stdout: true, stderr: true, follow: false, tail })) as unknown as Buffer;
  // Non-tty logs are multiplexed: 8-byte frame headers.
  let buf = Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw));
  const plain: Buffer[] = [];
  while (buf.length >= 8 && (buf[0] === 1 || buf[0] === 2) && buf[1] === 0) {
    const len = buf.readUInt32BE(4);
    plain.push(buf.subarray(8, 8 + len));
    buf = buf.subarray(8 + len);
  }
  if (plain.length === 0) plain.push(buf);
  return Buffer.concat(plain).toString().split("\n").filter((l) => l !== "");
}
