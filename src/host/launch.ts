// Starts one job process: optional gate (the process waits on fd 3 until the
// runner has moved it into the job's cgroup, before any job code runs), uid
// drop through spawn, output streaming, and a bounded wait for the pipes once
// the process has exited (a daemon that kept stdout must not hang the step).

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import type { Writable } from "node:stream";
import type { SpawnHandlers } from "./sandbox.js";
import type { Identity } from "./cgroup/types.js";

const GATE = 'read _ <&3 || exit 125; exec 3<&- "$@"';

// The gate shell must pass every environment variable through: dash (Debian's
// /bin/sh) drops names that are not shell identifiers, such as `INPUT_FETCH-DEPTH`.
// bash keeps them; started under the name "sh" it reads no startup file, so a
// job's BASH_ENV cannot run code before the process is in its cgroup.
const GATE_SHELL = existsSync("/bin/bash") ? "/bin/bash" : "/bin/sh";

export interface LaunchSpec {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  stdin?: string;
  identity?: Identity;
  /** Called with the pid while the process is held at the gate. */
  gate?: (pid: number) => Promise<void>;
}

export interface Launched {
  pid: number;
  /** Exit code/signal once the process exited and its pipes were drained. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function launch(spec: LaunchSpec, handlers: SpawnHandlers): Promise<Launched> {
  const [file, ...args] = spec.gate ? [GATE_SHELL, "-c", GATE, "sh", ...spec.argv] : spec.argv;
  const stdio: ("pipe" | "ignore")[] = [spec.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"];
  if (spec.gate) stdio.push("pipe");
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
  if (spec.stdin !== undefined && child.stdin) {
    child.stdin.on("error", () => {});
    child.stdin.end(spec.stdin);
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
      // Leftover members of the process group (background jobs) die with the step.
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // group already empty
      }
      // A process outside the group (setsid) may hold the pipes open: give
      // the output a moment to drain, then stop reading.
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish();
      }, 300).unref();
    });
    child.once("close", () => finish());
  });
}
