// End-to-end harness: a real emulator on 127.0.0.1, a runner registered with
// the real Register RPC, and the daemon (in-process or as the real CLI).

import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { readFileSync, rmSync } from "node:fs";
import { spawn, type ChildProcess } from "node:child_process";
import { startEmulator, type Emulator, type StartOptions } from "../emulator/index.js";
import { parseConfig } from "../../src/config/index.js";
import type { RunnerConfig } from "../../src/config/types.js";
import { startDaemon, type Daemon, type RunJobFn } from "../../src/daemon/index.js";
import { labelNames } from "../../src/config/index.js";
import { PlainBackend } from "../../src/host/plain-backend.js";
import type { HostBackend } from "../../src/host/sandbox.js";
import { createForgejoClient } from "../../src/protocol/index.js";
import { silentLogger, createLogger } from "../../src/observability/logger.js";
import { runJob as engineRunJob } from "../../src/engine/run-job.js";
import { withWorkflowCalls } from "../../src/exec/workflow-call-task.js";

/** The engine in-process, as a job worker runs it (jobs that call a reusable workflow included). */
export const runJob: RunJobFn = withWorkflowCalls(engineRunJob);

export const REPO_ROOT = resolve(import.meta.dirname, "../..");

export interface TestEnv {
  emu: Emulator;
  dir: string;
  uuid: string;
  token: string;
  close(): Promise<void>;
}

export async function setupEnv(opts: { emulator?: StartOptions; labels?: string[] } = {}): Promise<TestEnv> {
  const emu = await startEmulator(opts.emulator);
  const dir = await mkdtemp(join(tmpdir(), "nr-daemon-"));
  const client = createForgejoClient({ baseUrl: emu.url });
  const res = await client.register({
    name: "test-runner",
    token: emu.createRegistrationToken(),
    version: "test",
    labels: opts.labels ?? ["native"],
  });
  return {
    emu,
    dir,
    uuid: res.runner!.uuid,
    token: res.runner!.token,
    async close() {
      await emu.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface DaemonSettings {
  capacity?: number;
  protocol?: "proto" | "json";
  fetchInterval?: string;
  reportInterval?: string;
  shutdownTimeout?: string;
  timeout?: string;
  trustedRepos?: string[];
  cache?: boolean;
  /** metrics.enabled with this host:port. */
  metricsAddr?: string;
  /** cache.host (default 127.0.0.1; "" = the runner picks). */
  cacheHost?: string;
  /** The connection's labels (default: native:host). */
  labels?: string[];
  /** Replaces the connection's token (e.g. a wrong one). */
  token?: string;
  extra?: string;
  /** host.prestart_worker (default: unset, i.e. true). */
  prestartWorker?: boolean;
}

export function configYaml(env: TestEnv, s: DaemonSettings = {}): string {
  return `
log:
  level: ${process.env.NR_TEST_LOG ?? "warn"}
  format: ${process.env.NR_TEST_LOG_FORMAT ?? "auto"}
runner:
  file: ${join(env.dir, ".runner")}
  capacity: ${s.capacity ?? 1}
  fetch_interval: ${s.fetchInterval ?? "100ms"}
  report_interval: ${s.reportInterval ?? "100ms"}
  shutdown_timeout: ${s.shutdownTimeout ?? "0s"}
  timeout: ${s.timeout ?? "3h"}
  protocol: ${s.protocol ?? "proto"}
  trusted_repos: ${JSON.stringify(s.trustedRepos ?? [])}
  report_retry:
    max_retries: 20
    initial_delay: 20ms
    max_delay: 500ms
host:
  workdir_parent: ${join(env.dir, "work")}
  isolation: none
${s.prestartWorker !== undefined ? `  prestart_worker: ${s.prestartWorker}\n` : ""}cache:
  enabled: ${s.cache === true}
  dir: ${join(env.dir, "cache")}
  host: ${JSON.stringify(s.cacheHost ?? "127.0.0.1")}
metrics:
  enabled: ${s.metricsAddr !== undefined}
  addr: ${s.metricsAddr ?? "127.0.0.1:9101"}
server:
  connections:
    emu:
      url: ${env.emu.url}
      uuid: ${env.uuid}
      token: ${s.token ?? env.token}
      labels: ${JSON.stringify(s.labels ?? ["native:host"])}
${s.extra ?? ""}`;
}

export function daemonConfig(env: TestEnv, s: DaemonSettings = {}): RunnerConfig {
  return parseConfig(configYaml(env, s), join(env.dir, "config.yaml"), { cwd: env.dir });
}

export function startInProcess(env: TestEnv, s: DaemonSettings = {}, engine: RunJobFn = runJob, host?: HostBackend): Daemon {
  const config = daemonConfig(env, s);
  const log = process.env.NR_TEST_LOG ? createLogger({ level: process.env.NR_TEST_LOG as "debug", format: "json" }) : silentLogger();
  return startDaemon({
    config,
    connections: config.server.connections,
    host: host ?? new PlainBackend(join(env.dir, "work")),
    log,
    version: "test",
    runJob: engine,
    labelNames: (c) => labelNames(c.labels),
  });
}

export interface CliProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * The real CLI: `node --import tsx src/cli/entry.ts <verb> -c <cfg>`, or a
 * bundle made by bundleCli() when `bundle` is given.
 */
export async function startCli(env: TestEnv, verb: string[], s: DaemonSettings = {}, bundle?: string): Promise<CliProcess> {
  const cfgFile = join(env.dir, "config.yaml");
  await mkdir(join(env.dir, "work"), { recursive: true });
  await writeFile(cfgFile, configYaml(env, s));
  const entry = bundle ? [bundle] : ["--import", "tsx", join(REPO_ROOT, "src/cli/entry.ts")];
  // NR_TEST_NODE_ARGS: node options for the runner process only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = process.env.NR_TEST_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, ...entry, ...verb, "-c", cfgFile], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NR_TEST_LOG: "" },
  });
  let out = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.once("exit", (code, signal) => res({ code, signal })),
  );
  return { child, output: () => out, exited };
}

export const workflow = (steps: string, name = "job"): string => `
on: push
jobs:
  ${name}:
    runs-on: native
    steps:
${steps}`;

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = "condition"): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what} not met after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Bundles the CLI exactly as scripts/build.mjs does (benchmarks measure the
 * shipped, code-split form), below node_modules/.cache so that the external
 * native addons still resolve, in a directory of this process (node_modules
 * may be shared by several checkouts), removed at exit. dist/ is left alone.
 */
export async function bundleCli(): Promise<string> {
  const { bundleCli: bundle } = (await import(join(REPO_ROOT, "scripts/bundle.mjs"))) as {
    bundleCli: (outdir: string, opts?: { sourcemap?: boolean }) => Promise<string>;
  };
  const outdir = join(REPO_ROOT, "node_modules/.cache/native-runner-bench", `harness-${process.pid}`);
  process.on("exit", () => rmSync(outdir, { recursive: true, force: true }));
  return bundle(outdir, { sourcemap: false });
}

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Clock ticks since boot now: the unit of a process's start time in /proc/<pid>/stat. */
export function ticksSinceBoot(): number {
  return Math.floor(Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]) * 100);
}

/**
 * A step that prints its parent's (the job worker's) start time in clock ticks since boot and the job's crash
 * marker: `parent-start=<ticks> marker=<marker>`.
 */
export const PARENT_START_STEP = `      - run: echo "parent-start=$(sed 's/.*) //' /proc/$PPID/stat | cut -d' ' -f20) marker=$NATIVE_RUNNER_JOB"\n`;
