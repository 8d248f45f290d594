// A fake runner installation for isolation tests: state dir with a .runner
// token, a config file, a cache dir with an HMAC secret, hidden paths, and a
// hostile script that tries every way we know to read them.

import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { randomBytes, createHash } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { HostConfig } from "../../src/config/types.js";
import { createHostBackend } from "../../src/host/index.js";
import type { HostBackend, JobSandbox } from "../../src/host/sandbox.js";

export const isRoot = process.getuid?.() === 0;

export interface Fixture {
  base: string;
  stateDir: string;
  configFile: string;
  cacheDir: string;
  /** World-readable: only a mount namespace can hide it. */
  hiddenWorld: string;
  /** Root-only (0700): hidden by permissions or by bwrap. */
  hiddenPrivate: string;
  workdir: string;
  secrets: { token: string; config: string; cache: string; hiddenWorld: string; hiddenPrivate: string; daemonEnv: string };
  hostileScript: string;
  /** A stand-in for a root daemon process with a secret in its environment. */
  daemon: ChildProcess;
  cleanup(): Promise<void>;
}

const tok = (what: string) => `${what}-${randomBytes(12).toString("hex")}`;

export async function makeFixture(): Promise<Fixture> {
  // Not under /tmp: bubblewrap puts a tmpfs over /tmp, which would hide things for the wrong reason.
  const base = await mkdtemp("/var/tmp/nr-host-test-");
  await chmod(base, 0o755);
  const secrets = {
    token: tok("TOKEN"),
    config: tok("CONFIGSECRET"),
    cache: tok("CACHESECRET"),
    hiddenWorld: tok("HIDDENWORLD"),
    hiddenPrivate: tok("HIDDENPRIVATE"),
    daemonEnv: tok("DAEMONENV"),
  };
  const stateDir = join(base, "state");
  await mkdir(stateDir, { mode: 0o700 });
  await writeFile(join(stateDir, ".runner"), JSON.stringify({ id: 1, uuid: "u", name: "n", token: secrets.token }, null, 2), { mode: 0o600 });
  await mkdir(join(base, "etc"), { mode: 0o755 });
  const configFile = join(base, "etc", "config.yaml");
  await writeFile(configFile, `cache:\n  secret: ${secrets.config}\n`, { mode: 0o600 });
  const cacheDir = join(base, "cache");
  await mkdir(cacheDir, { mode: 0o700 });
  await writeFile(join(cacheDir, "secret"), secrets.cache, { mode: 0o600 });
  const hiddenWorld = join(base, "vault");
  await mkdir(hiddenWorld, { mode: 0o755 });
  await writeFile(join(hiddenWorld, "secret-id"), secrets.hiddenWorld, { mode: 0o644 });
  await chmod(hiddenWorld, 0o755);
  const hiddenPrivate = join(base, "run-secrets");
  await mkdir(hiddenPrivate, { mode: 0o700 });
  await writeFile(join(hiddenPrivate, "cache-signing-key"), secrets.hiddenPrivate, { mode: 0o400 });
  const workdir = join(base, "work");
  const hostileScript = join(base, "hostile.sh");
  await writeFile(hostileScript, HOSTILE, { mode: 0o755 });
  const daemon = spawn("/bin/sleep", ["300"], { env: { PATH: "/usr/bin:/bin", NR_DAEMON_SECRET: secrets.daemonEnv }, stdio: "ignore" });
  return {
    base, stateDir, configFile, cacheDir, hiddenWorld, hiddenPrivate, workdir, secrets, hostileScript, daemon,
    async cleanup() {
      daemon.kill("SIGKILL");
      await rm(base, { recursive: true, force: true });
    },
  };
}

const HOSTILE = `#!/bin/bash
echo "OWN-$OWN_MARK" > "$GITHUB_WORKSPACE/own.txt"
echo "== direct"
for f in "$FX_STATE/.runner" "$FX_CONFIG" "$FX_CACHE/secret" "$FX_HIDDEN_WORLD/secret-id" "$FX_HIDDEN_PRIVATE/cache-signing-key" \\
         "$FX_OTHER_WS/secret.txt" "$FX_OTHER_HOME/secret.txt"; do
  cat "$f" 2>&1; echo
done
echo "== tree"
grep -rs . "$FX_BASE" "$(dirname "$GITHUB_WORKSPACE")" "$GITHUB_WORKSPACE" 2>/dev/null | grep -v "/hostile.sh:" | head -300
echo "== listing"
ls -laR "$FX_OTHER_ROOT" 2>&1 | head -50
echo "== environ"
for e in /proc/[0-9]*/environ; do tr '\\0' '\\n' < "$e"; done 2>/dev/null | sort -u | head -1000
echo "== runner"
echo "runner-environ-sha=$(sha256sum < /proc/$FX_RUNNER_PID/environ 2>/dev/null | cut -c1-64)"
echo "runner-maps=$(head -c 100 /proc/$FX_RUNNER_PID/maps 2>/dev/null | head -1)"
echo "== end"
`;

export function hostConfig(over: Partial<HostConfig> & { workdir_parent: string }): HostConfig {
  return {
    isolation: "auto",
    cgroups: "auto",
    uid_range: { start: 0, count: 0 },
    hidden_paths: [],
    resources: { memory_max: 0, cpu_quota: 0, pids_max: 0 },
    ...over,
  };
}

export interface BackendUnderTest {
  backend: HostBackend;
  logs: { level: string; msg: string }[];
}

export async function backendFor(fx: Fixture, host: Partial<HostConfig>): Promise<BackendUnderTest> {
  const logs: { level: string; msg: string }[] = [];
  const backend = await createHostBackend({
    host: hostConfig({ workdir_parent: fx.workdir, hidden_paths: [fx.hiddenWorld, fx.hiddenPrivate], ...host }),
    stateDir: fx.stateDir,
    configFile: fx.configFile,
    cacheDir: fx.cacheDir,
    log: (level, msg) => logs.push({ level, msg }),
  });
  return { backend, logs };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  oomKilled?: boolean;
  out: string;
}

export async function run(sb: JobSandbox, script: string, env: Record<string, string> = {}, signal?: AbortSignal): Promise<RunResult> {
  let out = "";
  const res = await sb.spawn(
    { file: "bash", args: ["-c", script], cwd: sb.dirs.workspace, env: { ...sb.baseEnv, GITHUB_WORKSPACE: sb.dirs.workspace, ...env } },
    { onStdout: (c) => (out += c.toString()), onStderr: (c) => (out += c.toString()) },
    signal ?? new AbortController().signal,
  );
  return { ...res, out };
}

/** Starts a long-running "victim" job step holding a secret in its env, workspace and HOME. */
export async function startVictim(sb: JobSandbox, secret: string): Promise<{ stop(): Promise<RunResult> }> {
  const ac = new AbortController();
  const p = run(
    sb,
    `echo "$VICTIM_SECRET" > "$GITHUB_WORKSPACE/secret.txt"; echo "$VICTIM_SECRET" > "$HOME/secret.txt"; touch "$GITHUB_WORKSPACE/ready"; exec sleep 60`,
    { VICTIM_SECRET: secret },
    ac.signal,
  );
  const ready = join(sb.dirs.workspace, "ready");
  for (let i = 0; i < 500; i++) {
    if (await readFile(ready).then(() => true, () => false)) break;
    await sleep(10);
  }
  return {
    async stop() {
      ac.abort();
      return p;
    },
  };
}

export async function ownEnvironSha(): Promise<string> {
  return createHash("sha256").update(await readFile("/proc/self/environ")).digest("hex");
}

/** Pids of live processes with an argument that starts with `marker` (e.g. `sleep <marker>`). */
export async function processesWith(marker: string): Promise<number[]> {
  const { readdir } = await import("node:fs/promises");
  const found: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
    if (cmd.split("\0").slice(1).some((a) => a.startsWith(marker))) found.push(Number(name));
  }
  return found;
}

/** Why a backend cannot be tested here (a missing tool or kernel feature), or undefined when it can. */
export async function missingFeature(isolation: HostConfig["isolation"], cgroups: HostConfig["cgroups"]): Promise<string | undefined> {
  if (!isRoot) return "needs root (CI runs as root)";
  const { which, probeBwrap, SYSTEM_BIN_DIRS } = await import("../../src/host/detect.js");
  const { probeRawCgroups } = await import("../../src/host/cgroup/raw-cgroups.js");
  if (isolation.includes("bwrap")) {
    const bwrap = which("bwrap", SYSTEM_BIN_DIRS);
    if (!bwrap) return "bubblewrap is not installed (scripts/setup-host.sh installs it)";
    const p = probeBwrap(bwrap);
    if (!p.ok) return `bubblewrap does not work on this kernel: ${p.detail}`;
  }
  if (cgroups === "raw" && !(await probeRawCgroups().catch(() => undefined))) return "no writable cgroupfs (v1 controllers / v2 unified)";
  return undefined;
}

/**
 * Runs a test-side runner process (a `*-child.ts` script started through a shell that sets it up) to its end;
 * fails unless it exits 0, and returns the JSON of the last line it printed.
 */
export async function childReport<T>(script: string, args: string[], env?: NodeJS.ProcessEnv): Promise<T> {
  const child = spawn("/bin/sh", ["-c", script, "sh", ...args], { cwd: process.cwd(), env: env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number | null>((r) => child.once("close", r));
  if (code !== 0) throw new Error(`${script} exited ${code}:\n${err}${out}`);
  return JSON.parse(out.trim().split("\n").pop()!) as T;
}
