// The two daemons the side-by-side benchmarks start, each against its own
// emulator on 127.0.0.1 with the same settings (fetch_interval 2 s, capacity 1,
// cache off): native-runner's shipped bundle and Gitea's act_runner in host mode.

import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setupEnv, startCli, type TestEnv } from "../test/daemon/harness.js";

export interface Daemon {
  name: string;
  env: TestEnv;
  pid: number;
  stop(): Promise<void>;
}

export async function nativeRunner(cli: string): Promise<Daemon> {
  const env = await setupEnv();
  const p = await startCli(env, ["daemon"], { fetchInterval: "2s", reportInterval: "1s", capacity: 1 }, cli);
  return {
    name: "native-runner",
    env,
    pid: p.child.pid!,
    async stop() {
      p.child.kill("SIGTERM");
      await p.exited;
      await env.close();
    },
  };
}

export async function actRunner(bin: string): Promise<Daemon> {
  const env = await setupEnv();
  const cfg = join(env.dir, "act_runner.yaml");
  await mkdir(join(env.dir, "work"), { recursive: true });
  await writeFile(
    cfg,
    [
      "log:\n  level: warn",
      `runner:\n  file: ${join(env.dir, ".runner-ar")}\n  capacity: 1\n  timeout: 3h\n  fetch_timeout: 5s\n  fetch_interval: 2s\n  labels: []`,
      "cache:\n  enabled: false",
      `host:\n  workdir_parent: ${join(env.dir, "work")}`,
      "",
    ].join("\n"),
  );
  // Asynchronously: the emulator answers from this process.
  await promisify(execFile)(bin, ["register", "--no-interactive", "--instance", env.emu.url, "--token", env.emu.createRegistrationToken(), "--name", "ar", "--labels", "native:host", "-c", cfg], {
    cwd: env.dir,
  });
  const child: ChildProcess = spawn(bin, ["daemon", "-c", cfg], { cwd: env.dir, stdio: ["ignore", "ignore", "ignore"] });
  const exited = new Promise((r) => child.once("exit", r));
  return {
    name: "act_runner",
    env,
    pid: child.pid!,
    async stop() {
      child.kill("SIGTERM");
      await exited;
      await env.close();
    },
  };
}


/** Resident memory of a process now (VmRSS), MiB. */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) / 1024;
}

/**
 * Memory the process alone holds (USS: private pages, from smaps_rollup). RSS also counts the pages of the
 * program file and libraries it touched, which every process of the same program shares (for `node`, about
 * 30 MiB of a bare process).
 */
export function privateMiB(pid: number): number {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  let kb = 0;
  for (const m of text.matchAll(/^Private_(?:Clean|Dirty):\s+(\d+) kB/gm)) kb += Number(m[1]);
  return kb / 1024;
}
