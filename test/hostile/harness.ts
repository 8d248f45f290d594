// The hostile-job suite's runner: the real CLI (`bin/native-runner.js daemon`)
// as a root process, registered with the emulator through the Register RPC,
// holding the secrets an attacker wants: the runner token in `.runner`, a cache
// secret in the config file, a secret in its own environment. Tests drive it
// only through workflows, the emulator and the process table.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { dirname, join, resolve } from "node:path";
import { startEmulator, type Emulator, type EnqueueOptions, type StartOptions } from "../emulator/index.js";
import { createForgejoClient } from "../../src/protocol/index.js";
import { freePort } from "../daemon/harness.js";
import { missingFeature } from "../host/fixture.js";

export const REPO_ROOT = resolve(import.meta.dirname, "../..");
export const CLI = join(REPO_ROOT, "bin/native-runner.js");
export const isRoot = process.getuid?.() === 0;

export type Isolation = "none" | "uid" | "bwrap" | "uid+bwrap";
export type Cgroups = "none" | "raw";

export interface Backend {
  isolation: Isolation;
  cgroups: Cgroups;
}

/** Every sandboxing backend this suite attacks; `none` runs job code as the daemon by design. */
export const SANDBOX_BACKENDS: Backend[] = [
  { isolation: "uid", cgroups: "raw" },
  { isolation: "bwrap", cgroups: "raw" },
  { isolation: "uid+bwrap", cgroups: "raw" },
];

export const label = (b: Backend): string => `${b.isolation}/${b.cgroups}`;

/** Why this backend cannot run here, or false. */
export async function skipReason(b: Backend): Promise<string | false> {
  if (!isRoot) return "needs root (CI runs as root)";
  if (!existsSync(join(REPO_ROOT, "dist/native-runner.js"))) return "dist/ is not built (node scripts/build.mjs)";
  return (await missingFeature(b.isolation, b.cgroups)) ?? false;
}

/** Why gcc-built probes cannot be made here, or false. */
export function noCompiler(): string | false {
  const r = spawnSync("gcc", ["--version"], { stdio: "ignore" });
  return r.status === 0 ? false : "gcc is not installed (scripts/setup-host.sh installs it)";
}

export interface RunnerOptions extends Partial<Backend> {
  capacity?: number;
  /** runner.protocol: the Connect codec */
  protocol?: "proto" | "json";
  trustedRepos?: string[];
  trustedEvents?: string[];
  cache?: boolean;
  /** host.hidden_paths */
  hidden?: string[];
  /** Directory that holds the state dir and workdir_parent (e.g. a small tmpfs); default: inside base. */
  fsDir?: string;
  /** Verbatim YAML appended to the config. */
  extra?: string;
  emulator?: StartOptions;
  /** Existing base directory (reuse one made by the test, e.g. to mount a tmpfs in it first). */
  base?: string;
  /** The runner's labels (default: native:host). */
  labels?: string[];
  /** host.resources.cpu_quota of every job (e.g. "50%"). */
  cpuQuota?: string;
}

export interface DaemonProcess {
  child: ChildProcess;
  pid: number;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
}

export interface HostileRunner {
  emu: Emulator;
  base: string;
  stateDir: string;
  runnerFile: string;
  configFile: string;
  workdir: string;
  secrets: { token: string; cache: string; daemonEnv: string };
  /** Files holding the secrets above, for probes that try to read them. */
  secretFiles: string[];
  daemon: DaemonProcess;
  healthUrl: string;
  /** Starts the daemon again on the same state (after a kill). */
  restart(): Promise<DaemonProcess>;
  /** GET /healthz with a per-request bound: the status code, or an error text. */
  healthz(timeoutMs?: number): Promise<number | string>;
  /** Every secret's value that appears in `text`. */
  leaked(text: string): string[];
  close(): Promise<void>;
}

const uidBase = () => 3_300_000 + Math.floor(Math.random() * 2000) * 50;

export async function makeBase(): Promise<string> {
  // Not under /tmp: bubblewrap mounts its own /tmp.
  const base = await mkdtemp("/var/tmp/nr-hostile-");
  await chmod(base, 0o755);
  return base;
}

export async function startRunner(o: RunnerOptions = {}): Promise<HostileRunner> {
  const emu = await startEmulator(o.emulator);
  const base = o.base ?? (await makeBase());
  const fs = o.fsDir ?? base;
  const stateDir = join(fs, "state");
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const workdir = join(fs, "work");
  const secrets = {
    token: "",
    cache: `CACHESECRET${randomBytes(16).toString("hex")}`,
    daemonEnv: `DAEMONENV${randomBytes(16).toString("hex")}`,
  };
  const reg = await createForgejoClient({ baseUrl: emu.url }).register({
    name: "hostile", token: emu.createRegistrationToken(), version: "test", labels: o.labels ?? ["native:host"],
  });
  secrets.token = reg.runner!.token;
  const runnerFile = join(stateDir, ".runner");
  await writeFile(runnerFile, JSON.stringify({
    id: Number(reg.runner!.id), uuid: reg.runner!.uuid, name: "hostile", token: secrets.token, address: emu.url, labels: o.labels ?? ["native:host"],
  }, null, 2) + "\n", { mode: 0o600 });
  await mkdir(join(base, "etc"), { recursive: true, mode: 0o755 });
  const configFile = join(base, "etc", "config.yaml");
  const home = join(base, "daemon-home");
  await mkdir(home, { recursive: true, mode: 0o700 });
  const port = await freePort();
  const uids = uidBase();
  await writeFile(configFile, `
log:
  level: ${process.env.NR_TEST_LOG ?? "info"}
  format: json
runner:
  file: ${runnerFile}
  capacity: ${o.capacity ?? 2}
  fetch_interval: 100ms
  report_interval: 200ms
  shutdown_timeout: 0s
  protocol: ${o.protocol ?? "proto"}
  trusted_repos: ${JSON.stringify(o.trustedRepos ?? [])}
  trusted_events: ${JSON.stringify(o.trustedEvents ?? [])}
  report_retry:
    max_retries: 20
    initial_delay: 20ms
    max_delay: 500ms
host:
  workdir_parent: ${workdir}
  isolation: ${o.isolation ?? "none"}
  cgroups: ${o.cgroups ?? "none"}
  uid_range: { start: ${uids}, count: 40 }
  hidden_paths: ${JSON.stringify(o.hidden ?? [])}
${o.cpuQuota ? `  resources:\n    cpu_quota: ${JSON.stringify(o.cpuQuota)}\n` : ""}cache:
  enabled: ${o.cache !== false}
  dir: ${join(base, "cache")}
  host: 127.0.0.1
  secret: ${secrets.cache}
metrics:
  enabled: true
  addr: 127.0.0.1:${port}
${o.extra ?? ""}`, { mode: 0o600 });

  const start = (): DaemonProcess => {
    const child = spawn(process.execPath, [CLI, "daemon", "-c", configFile], {
      cwd: base,
      stdio: ["ignore", "pipe", "pipe"],
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, LANG: "C.UTF-8", NR_HOSTILE_DAEMON_SECRET: secrets.daemonEnv },
    });
    let out = "";
    child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
    let done = false;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
      child.once("exit", (code, signal) => {
        done = true;
        res({ code, signal });
      }),
    );
    return { child, pid: child.pid!, output: () => out, exited, alive: () => !done };
  };

  const runner: HostileRunner = {
    emu, base, stateDir, runnerFile, configFile, workdir, secrets,
    secretFiles: [runnerFile, configFile],
    daemon: start(),
    healthUrl: `http://127.0.0.1:${port}/healthz`,
    async restart() {
      runner.daemon = start();
      return runner.daemon;
    },
    healthz: (timeoutMs = 10_000) =>
      new Promise((res) => {
        // A fresh connection each time: a kept-alive socket closed by the server is no liveness failure.
        const req = request(runner.healthUrl, { timeout: timeoutMs, agent: false }, (r) => {
          r.resume();
          r.on("end", () => res(r.statusCode ?? 0));
        });
        req.on("timeout", () => {
          req.destroy();
          res(`no answer within ${timeoutMs} ms`);
        });
        req.on("error", (e) => res(e.message));
        req.end();
      }),
    leaked: (text) => Object.values(secrets).filter((s) => s !== "" && text.includes(s)),
    async close() {
      const d = runner.daemon;
      if (d.alive()) {
        d.child.kill("SIGTERM");
        const t = setTimeout(() => d.child.kill("SIGKILL"), 10_000);
        await d.exited;
        clearTimeout(t);
      }
      await emu.stop();
      if (!o.base) await rm(base, { recursive: true, force: true }).catch(() => {});
    },
  };
  return runner;
}

/** A waiting job, run by the daemon; resolves with the emulator's view when done. */
export async function runWorkflow(r: HostileRunner, workflow: string, opts: Omit<EnqueueOptions, "workflow"> = {}, timeoutMs = 120_000) {
  const { jobId } = r.emu.enqueue({ ...opts, workflow });
  return r.emu.waitForJobDone(jobId, timeoutMs);
}

export const logText = (job: { logRows: string[] }): string => job.logRows.join("\n");

/** A workflow with one job on the host label. */
export function hostJob(steps: string, extra = ""): string {
  return `on: push
jobs:
  hostile:
    runs-on: native
${extra}    steps:
${steps}`;
}

/** Pids of live, non-zombie processes with an argument that starts with `marker`. */
export async function processesWith(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
    if (cmd.split("\0").some((a) => a.startsWith(marker))) found.push(Number(name));
  }
  return found;
}

/** Kills what an attack left behind (on code that lets it survive), so one test cannot spoil the next. */
export async function killLeftovers(marker: string): Promise<number[]> {
  const pids = await processesWith(marker);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  return pids;
}

/** A sleep duration that is unique to this run and finds its processes again: `sleep <marker>`. */
export const sleepMarker = (): string => `${7000 + Math.floor(Math.random() * 1000)}.${randomBytes(3).readUIntBE(0, 3)}`;

/** Compiles a probe from test/hostile/probes/ with gcc. */
export async function compileProbe(name: string, outDir: string, shared: boolean): Promise<string> {
  const src = join(REPO_ROOT, "test/hostile/probes", `${name}.c`);
  const out = join(outDir, shared ? `${name}.so` : name);
  const args = shared ? ["-shared", "-fPIC", "-O2", "-o", out, src] : ["-O2", "-o", out, src];
  const r = spawnSync("gcc", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`gcc ${name}: ${r.stderr}`);
  await chmod(out, 0o755);
  return out;
}

/** Peak resident memory of a process (VmHWM), in bytes. */
export async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kb) * 1024;
}

/** Marks a case that still fails on main: it lands now and turns green (then loses this mark) with the fix. */
export const TODO = "fixed by privilege separation (issue #11)";

/** The liveness attacks (test/hostile/daemon-load.test.ts, bench/hostile-load.ts). */
export const MASKS_STEP = `      - run: |
          for i in $(seq 20000); do echo "::add-mask::hostile-mask-$i-$RUNNER_TEMP"; done
          echo masks registered
`;

export const SPARSE_STEPS = `      - run: |
          truncate -s 30G big.bin
          echo SPARSE-READY
      - run: echo "hash=\${{ hashFiles('big.bin') }}"
`;

/** The step after the swap uses every file command; a third one runs whatever happened. */
export const USE_FILE_COMMANDS = `      - if: always()
        run: |
          echo "SWAPPED=1" >> "$GITHUB_ENV"
          echo "o=1" >> "$GITHUB_OUTPUT"
          echo "- summary" >> "$GITHUB_STEP_SUMMARY"
          echo "$HOME/bin" >> "$GITHUB_PATH"
          echo second
      - if: always()
        run: echo third
`;

export interface TargetState {
  entries: string[];
  mode: string;
  uid: number;
}

export async function targetState(dir: string): Promise<TargetState> {
  const st = await stat(dir);
  return { entries: await readdir(dir), mode: (st.mode & 0o7777).toString(8), uid: st.uid };
}

export const untouched: TargetState = { entries: [], mode: "700", uid: 0 };

/** A root-owned 0700 directory (what /etc/cron.d is to an attacker) for a job to link to. */
export async function makeTarget(base: string, name: string): Promise<string> {
  const t = join(base, "targets", name.replace(/[^A-Za-z0-9]/g, "_"));
  await mkdir(t, { recursive: true, mode: 0o700 });
  await chmod(t, 0o700);
  await chmod(dirname(t), 0o755);
  return t;
}
