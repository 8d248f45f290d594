// Shared pieces of the end-to-end tests: the fixture action and flake, the
// real CLI in a child process, and Nix store queries that leave other
// tests' store paths alone.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readdir, readFile, utimes } from "node:fs/promises";
import { join, resolve } from "node:path";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { startEmulator, type Emulator } from "../emulator/index.js";
import { makeRepo, startGitHttpServer, type GitHttpServer } from "../helpers/git-http-server.js";

export const REPO_ROOT = resolve(import.meta.dirname, "../..");
export const FIXTURES = join(import.meta.dirname, "fixtures");

/** The deployment plan's example workflow, plus a step printing who ran it and what it built. */
export const BUILD_WORKFLOW = `name: Build
on: [push]
jobs:
  build:
    runs-on: native
    steps:
      - uses: actions/checkout@v4
      - run: nix build
      - run: id -u; readlink result; echo "NIX_CONFIG=$(printf %s "$NIX_CONFIG" | tr '\\n' ';')"
`;

/** Why the Nix end-to-end tests cannot run here, or false. */
export function nixUnavailable(): string | false {
  if (process.getuid?.() !== 0) return "needs root (per-job uids)";
  if (spawnSync("nix-store", ["--version"]).status !== 0) return "nix-bin is not installed (scripts/setup-host.sh installs it)";
  const ping = spawnSync("nix", ["--extra-experimental-features", "nix-command", "store", "ping", "--store", "daemon"]);
  if (ping.status !== 0) return "no nix-daemon is running (scripts/setup-host.sh starts one)";
  if (spawnSync("getent", ["group", "nix-users"]).status !== 0) return "no nix-users group (Debian package nix-setup-systemd)";
  return false;
}

export function groupId(name: string): number {
  const r = spawnSync("getent", ["group", name], { encoding: "utf8" });
  const gid = Number(r.stdout.split(":")[2]);
  if (r.status !== 0 || !Number.isInteger(gid)) throw new Error(`no group ${name}`);
  return gid;
}

/** The fixture flake (no inputs) with a derivation name unique to this test run. */
export async function fixtureFlake(name: string): Promise<string> {
  const text = await readFile(join(FIXTURES, "flake/flake.nix"), "utf8");
  const out = text.replace('name = "nixos-exporter-ci"', `name = "${name}"`);
  if (out === text) throw new Error("fixture flake: derivation name not found");
  return out;
}

/** Publishes the fixture checkout action as `actions/checkout` tagged `v4` under `gitRoot`. */
export async function serveCheckoutAction(gitRoot: string): Promise<void> {
  await makeRepo(
    gitRoot,
    "actions/checkout",
    {
      "action.yml": await readFile(join(FIXTURES, "checkout-action/action.yml"), "utf8"),
      "index.js": await readFile(join(FIXTURES, "checkout-action/index.js"), "utf8"),
    },
    { tags: ["v4"] },
  );
}

export interface Cli {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after 15 s. */
  stop(): Promise<void>;
}

/**
 * Starts a CLI process: `argv0 args...` when `argv0` is given (e.g. an
 * `act_runner` symlink), else the sources through tsx.
 */
export function startCli(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; argv0?: string }): Cli {
  const [file, argv] = opts.argv0
    ? [opts.argv0, args]
    : [process.execPath, ["--import", import.meta.resolve("tsx"), join(REPO_ROOT, "src/cli/entry.ts"), ...args]];
  const child = spawn(file, argv, { cwd: opts.cwd, env: opts.env ?? { ...process.env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  return {
    child,
    output: () => out,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Polls `check` until it returns a value; fails early (with its output) when `cli` exits. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => T | undefined | Promise<T | undefined>, cli?: Cli): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (cli && cli.child.exitCode !== null) throw new Error(`the runner exited while waiting for ${what}:\n${cli.output()}`);
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not after ${timeoutMs} ms${cli ? `\n--- runner ---\n${cli.output()}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function storePathValid(storePath: string): boolean {
  return spawnSync("nix-store", ["--check-validity", storePath]).status === 0;
}

export function registrationTime(storePath: string): number {
  const r = spawnSync("nix", ["--extra-experimental-features", "nix-command", "path-info", "--json", storePath], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`nix path-info ${storePath}: ${r.stderr}`);
  const info = JSON.parse(r.stdout) as Array<{ registrationTime?: number }>;
  return info[0]?.registrationTime ?? 0;
}

/** What `nix-collect-garbage` would delete right now (nothing is deleted). */
export function deadPaths(): Set<string> {
  const r = spawnSync("nix-store", ["--gc", "--print-dead"], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`nix-store --gc --print-dead: ${r.stderr}`);
  return new Set(r.stdout.split("\n").filter(Boolean));
}

/**
 * The garbage collector restricted to one path (`nix-store --delete`): the
 * same liveness rules as `nix-collect-garbage`, without collecting store
 * paths that tests running at the same time have not rooted yet.
 */
export function collectPath(storePath: string): { deleted: boolean; stderr: string } {
  const r = spawnSync("nix-store", ["--delete", storePath], { encoding: "utf8" });
  return { deleted: r.status === 0, stderr: r.stderr };
}

/** Sets the mtime of `dir` and every directory below it `days` into the past. */
export async function backdate(dir: string, days: number): Promise<void> {
  const t = new Date(Date.now() - days * 86_400_000);
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isDirectory()) await utimes(join(e.parentPath, e.name), t, t);
  }
  await utimes(dir, t, t);
}

export interface Forge {
  /** One origin for the runner API and git, as on Forgejo: `http://127.0.0.1:PORT` (no trailing slash). */
  url: string;
  emu: Emulator;
  git: GitHttpServer;
  gitRoot: string;
  /** Context keys that make the task's github.server_url this origin. */
  context: Record<string, string>;
  close(): Promise<void>;
}

/**
 * The Forgejo emulator (runner API, under /api/actions/) and the git test
 * server (repositories, default actions) behind one origin, as a Forgejo
 * instance serves both. Only a running task's token opens the repositories.
 */
export async function startForge(gitRoot: string, opts: { host?: string } = {}): Promise<Forge> {
  // Another address than 127.0.0.1 (the host's outbound one) lets job containers reach the forge.
  const host = opts.host ?? "127.0.0.1";
  let emu: Emulator | undefined;
  const git = await startGitHttpServer({ root: gitRoot, token: (t) => emu?.isTaskTokenValid(t) ?? false });
  const gitPort = new URL(git.url).port;
  let emuPort = "";
  const proxy = http.createServer((req, res) => {
    const toEmu = (req.url ?? "").startsWith("/api/actions/");
    const upstream = http.request(
      { host: "127.0.0.1", port: toEmu ? emuPort : gitPort, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", (err) => {
      if (!res.headersSent) res.writeHead(502, { "Content-Type": "text/plain" });
      res.end(`proxy: ${err.message}\n`);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((r) => proxy.listen(0, host, () => r()));
  const url = `http://${host}:${(proxy.address() as AddressInfo).port}`;
  emu = await startEmulator({ defaultActionsUrl: url });
  emuPort = String(emu.port);
  return {
    url,
    emu,
    git,
    gitRoot,
    context: { server_url: `${url}/`, api_url: `${url}/api/v1` },
    async close() {
      await emu!.stop();
      proxy.closeAllConnections();
      await new Promise<void>((r) => proxy.close(() => r()));
      await git.close();
    },
  };
}
