// The runners of the real-server tier: native-runner registered and started
// the way nixpkgs' services.gitea-actions-runner does it (an EnvironmentFile
// with TOKEN=…, `register --no-interactive … --token "$TOKEN"` in the state
// directory, then `daemon --config`), and Gitea's act_runner beside it.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { chmod, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT, type Gitea } from "./gitea.js";

export type RunnerKind = "native-runner" | "act_runner";

export interface RunnerSettings {
  name?: string;
  capacity?: number;
  /** runner.fetch_interval; the tests poll fast, benchmarks keep the defaults. */
  fetchInterval?: string;
  /** runner.timeout (the runner's own job time limit). */
  timeout?: string;
  /** Appended to native-runner's config.yaml. */
  extraConfig?: string;
}

export class RunnerProcess {
  private out = "";
  private peakKb = 0;
  private readonly sampler: NodeJS.Timeout;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly kind: RunnerKind,
    readonly child: ChildProcess,
  ) {
    child.stdout?.on("data", (c: Buffer) => (this.out += c.toString()));
    child.stderr?.on("data", (c: Buffer) => (this.out += c.toString()));
    this.exited = new Promise((res) => child.once("exit", (code, signal) => res({ code, signal })));
    this.sampler = setInterval(() => this.sample(), 200);
    this.sampler.unref();
    void this.exited.then(() => clearInterval(this.sampler));
  }

  get pid(): number {
    return this.child.pid!;
  }

  output(): string {
    return this.out;
  }

  /** The daemon process's own peak resident set (VmHWM) in KiB, as last seen. */
  peakRssKb(): number {
    this.sample();
    return this.peakKb;
  }

  private sample(): void {
    try {
      const status = readFileSync(`/proc/${this.child.pid}/status`, "utf8");
      const kb = Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      if (kb > this.peakKb) this.peakKb = kb;
    } catch {
      // exited
    }
  }

  alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, SIGKILL after 20 s. */
  async stop(): Promise<void> {
    if (!this.alive()) return;
    this.sample();
    this.child.kill("SIGTERM");
    const t = setTimeout(() => this.child.kill("SIGKILL"), 20_000);
    await this.exited;
    clearTimeout(t);
  }

  async kill9(): Promise<void> {
    this.sample();
    this.child.kill("SIGKILL");
    await this.exited;
  }
}

export interface RegisteredRunner {
  kind: RunnerKind;
  /** Starts (or restarts) the daemon. */
  start(): RunnerProcess;
  /** The runner's state directory (its working directory). */
  dir: string;
}

const BUNDLE = join(REPO_ROOT, "dist/native-runner.js");

/** scripts/test.sh builds dist/ before the suite; rebuild when it is missing or older than the sources. */
export function ensureBundle(): void {
  const built = existsSync(BUNDLE) ? statSync(BUNDLE).mtimeMs : 0;
  const newest = Math.max(
    ...readdirSync(join(REPO_ROOT, "src"), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => statSync(join(e.parentPath, e.name)).mtimeMs),
  );
  if (built >= newest) return;
  const r = spawnSync(process.execPath, [join(REPO_ROOT, "scripts/build.mjs")], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`node scripts/build.mjs failed: ${r.stderr}`);
}

/**
 * Registers native-runner as the nixpkgs module's ExecStartPre does (token
 * from an EnvironmentFile) and returns a starter for `daemon --config`.
 */
export async function registerNativeRunner(gitea: Gitea, root: string, s: RunnerSettings = {}): Promise<RegisteredRunner> {
  ensureBundle();
  const name = s.name ?? "native";
  const binDir = join(root, "pkg/bin");
  await mkdir(binDir, { recursive: true });
  await symlink(join(REPO_ROOT, "bin/native-runner.js"), join(binDir, "act_runner"));
  const dir = join(root, "var/lib/gitea-runner", name);
  await mkdir(dir, { recursive: true });
  const configFile = join(root, "config.yaml");
  await writeFile(
    configFile,
    [
      "log:",
      `  level: ${process.env.NR_TEST_LOG ?? "info"}`,
      "runner:",
      `  capacity: ${s.capacity ?? 2}`,
      ...(s.fetchInterval ? [`  fetch_interval: ${s.fetchInterval}`, `  fetch_interval_max: ${s.fetchInterval}`] : []),
      ...(s.timeout ? [`  timeout: ${s.timeout}`] : []),
      "  report_interval: 500ms",
      "cache:",
      "  enabled: true",
      `  dir: ${dir}/cache`,
      s.extraConfig ?? "",
    ].join("\n") + "\n",
  );
  const tokenFile = join(root, "secrets/token.env");
  await mkdir(join(root, "secrets"), { recursive: true, mode: 0o700 });
  await writeFile(tokenFile, `TOKEN=${gitea.runnerToken()}\n`, { mode: 0o400 });
  const env = { HOME: dir, PATH: `${binDir}:${process.env.PATH ?? "/usr/bin:/bin"}` };
  const script = [
    "set -eu",
    'set -a; . "$TOKEN_FILE"; set +a',
    'cd "$STATE"',
    '[ -e .runner ] || act_runner register --no-interactive --instance "$URL" --token "$TOKEN" --name "$NAME" --labels native:host --config "$CFG"',
  ].join("\n");
  const r = spawnSync("bash", ["-c", script], {
    encoding: "utf8",
    env: { ...env, TOKEN_FILE: tokenFile, STATE: dir, URL: gitea.url, NAME: name, CFG: configFile },
  });
  if (r.status !== 0) throw new Error(`register failed:\n${r.stdout}${r.stderr}`);
  return {
    kind: "native-runner",
    dir,
    start: () =>
      new RunnerProcess("native-runner", spawn(join(binDir, "act_runner"), ["daemon", "--config", configFile], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] })),
  };
}

/** Registers Gitea's act_runner in host mode (runner.labels empty, so the registration's `native:host` holds). */
export async function registerActRunner(gitea: Gitea, root: string, s: RunnerSettings = {}): Promise<RegisteredRunner> {
  const bin = gitea.peerBinary("act_runner");
  const name = s.name ?? "act";
  const dir = join(root, "act_runner");
  await mkdir(join(dir, "work"), { recursive: true });
  await chmod(dir, 0o755);
  const configFile = join(dir, "config.yaml");
  await writeFile(
    configFile,
    [
      "log:",
      "  level: info",
      "runner:",
      `  file: ${dir}/.runner`,
      `  capacity: ${s.capacity ?? 2}`,
      `  timeout: ${s.timeout ?? "3h"}`,
      "  fetch_timeout: 5s",
      `  fetch_interval: ${s.fetchInterval ?? "2s"}`,
      "  labels: []",
      "cache:",
      "  enabled: true",
      `  dir: ${dir}/cache`,
      "  host: 127.0.0.1",
      "host:",
      `  workdir_parent: ${dir}/work`,
    ].join("\n") + "\n",
  );
  const env = { ...process.env, HOME: dir };
  const r = spawnSync(
    bin,
    ["register", "--no-interactive", "--instance", gitea.url, "--token", gitea.runnerToken(), "--name", name, "--labels", "native:host", "-c", configFile],
    { cwd: dir, encoding: "utf8", env },
  );
  if (r.status !== 0) throw new Error(`act_runner register failed:\n${r.stdout}${r.stderr}`);
  return {
    kind: "act_runner",
    dir,
    start: () => new RunnerProcess("act_runner", spawn(bin, ["daemon", "-c", configFile], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] })),
  };
}
