// Starts one job process: optional gate (the process waits on fd 3 until the
// runner has moved it into the job's cgroup, before any job code runs), uid
// drop through spawn, output streaming, and a bounded wait for the pipes once
// the process has exited (a background process that kept stdout must not
// hang the step; it lives on until the job ends).

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import type { Writable } from "node:stream";
import type { SpawnHandlers } from "./sandbox.js";
import type { Identity } from "./cgroup/types.js";

// Started with a constant environment (see wrapperEnv): nothing of the job
// reaches it before it exec's. With `envFd`, it reads the final process's
// variables from fd 4 (NUL-separated NAME=value) after the go on fd 3.
const GATE = 'read _ <&3 || exit 125; exec 3<&- "$@"';
const GATE_ENV = `read _ <&3 || exit 125; exec 3<&-; ${importEnv()}`;
/** The same import without a gate (a wrapper such as systemd-run runs first). */
export const APPLY_ENV = importEnv();

function importEnv(): string {
  // `export` refuses names that are not identifiers (BASH_FUNC_x%%) and
  // read-only ones (SHELLOPTS), so no record can define code for this shell.
  return `while IFS= read -r -d '' kv <&4; do export -- "$kv" 2>/dev/null; done; exec 4<&- "$@"`;
}

export const BASH = existsSync("/bin/bash") ? "/bin/bash" : "/bin/sh";

/** The whole environment of every process that runs before the job's own command. */
export function wrapperEnv(): Record<string, string> {
  return { PATH: "/run/current-system/sw/bin:/usr/bin:/bin:/usr/sbin:/sbin", LANG: "C.UTF-8" };
}

/** NUL-separated `NAME=value` records for the gate's import. */
export function envRecords(env: Record<string, string>): Buffer {
  return Buffer.from(Object.entries(env).map(([k, v]) => `${k}=${v}\0`).join(""));
}

export interface LaunchSpec {
  argv: string[];
  cwd: string;
  /** Environment of the first process (the final one's too when nothing wraps it). */
  env: Record<string, string>;
  stdin?: string;
  /** Keep stdin open and hand it to this callback once the process runs (after the gate). */
  input?: (stdin: Writable) => void;
  identity?: Identity;
  /** Called with the pid while the process is held at the gate. */
  gate?: (pid: number) => Promise<void>;
  /** Content for fd 4: the final process's environment (gate import, or bwrap --args). */
  fd4?: Buffer;
  /** The gate imports the environment records on fd 4 before it exec's. */
  gateImportsEnv?: boolean;
}

export interface Launched {
  pid: number;
  /** Exit code/signal once the process exited and its pipes were drained. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function launch(spec: LaunchSpec, handlers: SpawnHandlers): Promise<Launched> {
  const gateScript = spec.gateImportsEnv ? GATE_ENV : GATE;
  const [file, ...args] = spec.gate ? [BASH, "-c", gateScript, "sh", ...spec.argv] : spec.argv;
  const stdio: ("pipe" | "ignore")[] = [spec.stdin === undefined && !spec.input ? "ignore" : "pipe", "pipe", "pipe"];
  if (spec.gate || spec.fd4) stdio.push(spec.gate ? "pipe" : "ignore");
  if (spec.fd4) stdio.push("pipe");
  const child = spawn(file!, args, {
    cwd: spec.cwd,
    env: spec.env,
    detached: true, // own session and process group
    stdio,
    ...(spec.gate ? { argv0: "sh" } : {}),
    ...(spec.identity ? { uid: spec.identity.uid, gid: spec.identity.gid } : {}),
  });
  const done = waitDone(child, handlers);
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", () => resolve());
    child.once("error", (err) => reject(err));
  });
  const pid = child.pid!;
  if (spec.fd4) {
    const fd4 = child.stdio[4] as Writable;
    fd4.on("error", () => {});
    fd4.end(spec.fd4);
  }
  if (spec.gate) {
    const fd3 = child.stdio[3] as Writable;
    fd3.on("error", () => {});
    try {
      await spec.gate(pid);
    } catch (err) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // gone
      }
      fd3.destroy();
      await done;
      throw err;
    }
    fd3.end("go\n");
  }
  if (child.stdin) {
    child.stdin.on("error", () => {});
    if (spec.input) spec.input(child.stdin);
    else child.stdin.end(spec.stdin);
  }
  return { pid, done };
}

function waitDone(child: ChildProcess, handlers: SpawnHandlers): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  child.stdout?.on("data", (c: Buffer) => handlers.onStdout(c));
  child.stderr?.on("data", (c: Buffer) => handlers.onStderr(c));
  return new Promise((resolve) => {
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let settled = false;
    const finish = () => {
      if (settled || !exit) return;
      settled = true;
      resolve(exit);
    };
    child.once("exit", (code, signal) => {
      exit = { code, signal };
      // Background processes of the step keep running until the job ends
      // (the sandbox kills them then); one may hold the pipes open: give the
      // output a moment to drain, then stop reading.
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish();
      }, 300).unref();
    });
    child.once("close", () => finish());
  });
}
